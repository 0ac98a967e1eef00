//! The committed contract matches the code: `docs/openapi.yaml` and the generated
//! TypeScript types. Regenerate with `just openapi types` when these fail.

use std::path::{Path, PathBuf};

use devora_e2e::TempDir;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn committed_openapi_yaml_matches_the_code() {
    let committed = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap_or_default();
    let generated = devora_http::openapi_yaml().unwrap();
    assert!(
        committed == generated,
        "docs/openapi.yaml is stale: run `cargo run -p devora-server -- export-openapi docs/openapi.yaml` (just openapi)"
    );
}

#[test]
fn committed_typescript_types_match_the_code() {
    let dir = TempDir::new();
    devora_api_types::export_typescript(dir.path()).unwrap();
    let committed_dir = repo_root().join("clients/typescript/src/generated");
    let mut generated: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    generated.sort();
    let mut committed: Vec<_> =
        std::fs::read_dir(&committed_dir).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    committed.sort();
    assert_eq!(generated, committed, "generated type files differ: run `just types`");
    for name in generated {
        let a = std::fs::read(dir.path().join(&name)).unwrap();
        let b = std::fs::read(committed_dir.join(&name)).unwrap();
        assert!(a == b, "{} is stale: run `just types`", name.to_string_lossy());
        // No `any` outside comments: every field has a real type; no `bigint`,
        // which JSON numbers never parse into.
        let text = String::from_utf8(a).unwrap();
        let code = text.lines().filter(|l| !l.trim_start().starts_with(['/', '*'])).collect::<Vec<_>>().join("\n");
        let words = code.split(|c: char| !c.is_ascii_alphanumeric() && c != '_');
        for word in words {
            assert!(word != "any" && word != "bigint", "{} has a `{word}`", name.to_string_lossy());
        }
    }
}

/// The document states the conventions of `API.md` on every operation, so that
/// clients and the conformance run can rely on them.
#[test]
fn every_operation_documents_the_conventions() {
    let doc = serde_json::to_value(devora_http::openapi_document()).unwrap();
    let components = &doc["components"];
    let mut failures = Vec::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let mut fail = |what: String| failures.push(format!("{at}: {what}"));
            let id = op["operationId"].as_str().unwrap_or_default();
            if id.is_empty() || !operation_ids.insert(id.to_owned()) {
                fail(format!("missing or repeated operationId {id:?}"));
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                fail("no summary".into());
            }
            if op["tags"].as_array().is_none_or(Vec::is_empty) {
                fail("no tag".into());
            }
            let responses = op["responses"].as_object().unwrap();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let json_body = op["requestBody"]["content"].get("application/json").is_some();
            let mut required: Vec<&str> = vec!["429", "500"];
            // Every operation that uses the database; the providers list reads only
            // configuration, and the callback always redirects.
            let no_database = ["oauth_providers", "oauth_callback"].contains(&id);
            if op["tags"].as_array().is_some_and(|tags| !tags.iter().any(|t| t == "service")) && !no_database {
                required.push("503");
            }
            if secured {
                required.push("401");
            }
            if json_body {
                required.extend(["400", "413", "415", "422"]);
            }
            for status in required {
                if !responses.contains_key(status) {
                    fail(format!("no {status} response"));
                }
            }
            // Path parameters and the path template agree.
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "query") && !responses.contains_key("400") {
                fail("query parameters without a 400 response".into());
            }
            let in_path: Vec<&str> =
                params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
            let templated: Vec<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            if in_path != templated {
                fail(format!("path parameters {in_path:?} do not match the template {templated:?}"));
            }
            let cached = responses.contains_key("304");
            for key in params.iter().filter(|p| p["name"] == "Idempotency-Key") {
                if key["schema"]["maxLength"] != 255 || key["schema"]["pattern"].is_null() {
                    fail("an Idempotency-Key without its rules".into());
                }
            }
            if cached && !params.iter().any(|p| p["in"] == "header" && p["name"] == "If-None-Match") {
                fail("a cached read without If-None-Match".into());
            }
            // Request and success bodies come with an example.
            let mut bodies: Vec<(String, &serde_json::Value)> = Vec::new();
            let request = &op["requestBody"]["content"]["application/json"];
            // An example on the media type (a body without a schema of its own) counts too.
            if let Some(schema) = request.get("schema").filter(|_| request.get("example").is_none()) {
                bodies.push(("request body".into(), schema));
            }
            for (status, response) in responses {
                let headers = response["headers"].as_object();
                let has_header = |name: &str| headers.is_some_and(|h| h.contains_key(name));
                // Readiness answers 503 with its report, as load balancers and operators expect.
                let report = id == "health_ready" && status == "503";
                if !has_header("X-Request-Id") {
                    fail(format!("{status} without X-Request-Id"));
                }
                if (status == "429" || (status == "503" && !report)) && !has_header("Retry-After") {
                    fail(format!("{status} without Retry-After"));
                }
                if cached && (status == "200" || status == "304") && !has_header("ETag") {
                    fail(format!("{status} of a cached read without ETag"));
                }
                if secured && status == "401" && !has_header("WWW-Authenticate") {
                    fail("401 without WWW-Authenticate".into());
                }
                if let Some(content) = response["content"].get("application/octet-stream")
                    && content["schema"]["contentMediaType"] != "application/octet-stream"
                {
                    fail(format!("{status}: a binary body not described as bytes"));
                }
                if status.starts_with('3') && status != "304" && !has_header("Location") {
                    fail(format!("{status} without Location"));
                }
                if (status.starts_with('4') || status.starts_with('5')) && !report {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    if schema != "#/components/schemas/Problem" {
                        fail(format!("{status} is not a problem document"));
                    }
                }
                if status.starts_with('2')
                    && let Some(content) = response["content"].get("application/json")
                    && content.get("example").is_none()
                {
                    bodies.push((format!("{status} body"), &content["schema"]));
                }
            }
            for (what, schema) in bodies {
                let resolved = match schema["$ref"].as_str() {
                    Some(r) => &components["schemas"][r.trim_start_matches("#/components/schemas/")],
                    None => schema,
                };
                if resolved.get("example").is_none() {
                    fail(format!("{what} has no example"));
                }
            }
        }
    }
    for name in ["X-Request-Id", "RateLimit-Policy", "RateLimit", "Retry-After", "ETag", "Idempotent-Replayed"] {
        if components["headers"].get(name).is_none() {
            failures.push(format!("components.headers has no {name}"));
        }
    }
    assert!(failures.is_empty(), "the OpenAPI document breaks its conventions:\n{}", failures.join("\n"));
}

/// The rules JSON Schema can state are stated: a document's pattern refuses what
/// the server refuses and admits what it admits.
#[test]
fn the_document_states_the_rules_the_server_enforces_on_names_and_paths() {
    let doc = serde_json::to_value(devora_http::openapi_document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let pattern = |schema: &serde_json::Value| regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
    for (ty, field) in [
        ("CreateProjectRequest", "name"),
        ("UpdateProjectRequest", "name"),
        ("RegisterRequest", "name"),
        ("UpdateMeRequest", "name"),
    ] {
        let re = pattern(&schemas[ty]["properties"][field]);
        for ok in ["Recipes", "  Recipe box  ", "Ada\u{a0}Lovelace", "x"] {
            assert!(re.is_match(ok), "{ty}.{field} refuses {ok:?}, which the server accepts");
            assert!(devora_domain::UserName::parse(ok).is_ok() && devora_domain::ProjectName::parse(ok).is_ok());
        }
        for bad in ["", "   ", "a\u{1}b", "tab\tinside", "del\u{7f}", "c1\u{85}x"] {
            assert!(!re.is_match(bad), "{ty}.{field} admits {bad:?}, which the server refuses");
            assert!(devora_domain::UserName::parse(bad).is_err() && devora_domain::ProjectName::parse(bad).is_err());
        }
    }
    let description = pattern(&schemas["CreateProjectRequest"]["properties"]["description"]);
    assert!(description.is_match("two\nlines\tand a tab\r\n"));
    assert!(!description.is_match("bell\u{7}") && devora_domain::ProjectDescription::parse("bell\u{7}").is_err());

    let file = doc["paths"]["/api/v2/projects/{id}/files/{path}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "path")
        .unwrap()
        .clone();
    let re = pattern(&file["schema"]);
    let segment = |n| "s".repeat(n);
    for ok in ["src/App.tsx".to_owned(), format!("{}/{}", segment(255), segment(255)), "a//b/".to_owned()] {
        assert!(re.is_match(&ok), "the path pattern refuses {ok:?}");
        assert!(devora_domain::FilePath::parse(&ok).is_ok(), "{ok:?}");
    }
    for bad in
        [format!("a/{}", segment(256)), segment(256), "/abs".to_owned(), "a\\b".to_owned(), "a\u{202e}b".to_owned()]
    {
        assert!(!re.is_match(&bad), "the path pattern admits {bad:?}");
        assert!(devora_domain::FilePath::parse(&bad).is_err(), "{bad:?}");
    }
}
