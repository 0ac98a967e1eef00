//! Projects, files and conversations: ownership, paths, limits, idempotency, and
//! a cache that is never stale across nodes, with or without Redis.

use std::time::Duration;

use serde_json::json;

use super::*;

scenario!(projects_are_created_listed_read_updated_and_deleted, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_project_id(&token, &format!("Project {i}")).await);
    }
    // Newest first, in pages that do not move when more projects arrive.
    let first: Value = app.get_json_as(&token, "/api/v2/projects?limit=2").await;
    let names: Vec<_> =
        first["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, vec!["Project 4", "Project 3"]);
    app.create_project(&token, "Project 5").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app.get_json_as(&token, &format!("/api/v2/projects?limit=2&cursor={cursor}")).await;
    let names: Vec<_> =
        second["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, vec!["Project 2", "Project 1"]);
    let third: Value = app
        .get_json_as(&token, &format!("/api/v2/projects?limit=2&cursor={}", second["next_cursor"].as_str().unwrap()))
        .await;
    assert_eq!(third["items"].as_array().unwrap().len(), 1);
    assert_eq!(third["next_cursor"], Value::Null);
    let all: Value = app.get_json_as(&token, "/api/v2/projects").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);

    let id = &ids[0];
    let path = format!("/api/v2/projects/{id}");
    let res =
        app.patch_as(&token, &path, &json!({"name": "  Renamed  ", "description": "Now with a description"})).await;
    assert_eq!(res.status(), 200);
    let got: Value = app.get_json_as(&token, &path).await;
    assert_eq!(
        (got["name"].as_str(), got["description"].as_str(), got["framework"].as_str()),
        (Some("Renamed"), Some("Now with a description"), Some("react"))
    );
    let res = app.patch_as(&token, &path, &json!({"description": null, "framework": null})).await;
    let cleared: Value = res.json().await.unwrap();
    // A positional array is not a patch: refused, and nothing changes.
    let res = app.patch_as(&token, &path, &json!(["x", null, null])).await;
    assert_problem(res, 422, "validation-failed").await;
    assert_eq!(
        (cleared["description"].clone(), cleared["framework"].clone(), cleared["name"].as_str()),
        (Value::Null, Value::Null, Some("Renamed"))
    );

    // Delete takes files and messages with it.
    assert_eq!(app.put_file(&token, id, "src/main.ts", b"x".to_vec()).await.status(), 201);
    assert_eq!(app.post_message(&token, id, "hi").await.status(), 201);
    assert_eq!(app.delete_project(&token, id).await.status(), 204);
    assert_problem(app.get_as(&token, &path).await, 404, "not-found").await;
    assert_problem(app.get_as(&token, &format!("{path}/files")).await, 404, "not-found").await;
    assert_problem(app.delete_project(&token, id).await, 404, "not-found").await;
});

scenario!(bad_project_input_is_refused, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    for (body, field) in [
        (json!({"name": " "}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"name": "ok", "description": "d".repeat(2001)}), "description"),
        (json!({"name": "ok", "framework": "cobol"}), "framework"),
        (json!({"name": "ok", "owner_id": "someone"}), "owner_id"),
    ] {
        let problem =
            assert_problem(app.post_as(&token, "/api/v2/projects", &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    for query in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        assert_problem(app.get_as(&token, &format!("/api/v2/projects?{query}")).await, 422, "validation-failed").await;
    }
    let list: Value = app.get_json_as(&token, "/api/v2/projects").await;
    assert_eq!(list["items"], json!([]), "nothing was created");
    assert_problem(app.get("/api/v2/projects").await, 401, "unauthenticated").await;
});

scenario!(the_plan_limit_holds_under_concurrent_creates, [sqlite_memory, postgres_redis], |variant: Variant| {
    let app = TestApp::spawn_with(variant, Options::with_env(&[("FREE_PLAN_MAX_PROJECTS", "3")])).await;
    let token = app.new_user().await.access_token;
    let bodies: Vec<Value> = (0..10).map(|i| json!({"name": format!("p{i}")})).collect();
    let creates = bodies.iter().map(|body| app.post_as(&token, "/api/v2/projects", body));
    let statuses: Vec<u16> =
        futures_util::future::join_all(creates).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{variant:?}: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 7, "{variant:?}: {statuses:?}");
    let list: Value = app.get_json_as(&token, "/api/v2/projects").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let refused =
        assert_problem(app.post_as(&token, "/api/v2/projects", &json!({"name": "one more"})).await, 403, "plan-limit")
            .await;
    assert_eq!((refused["limit"].as_u64(), refused["current"].as_u64()), (Some(3), Some(3)), "{refused}");
});

scenario!(files_are_binary_safe_with_size_sha256_and_etags, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Files").await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let res = app.put_file(&token, &id, "assets//logo.png", binary.clone()).await;
    assert_eq!(res.status(), 201);
    let entry: Value = res.json().await.unwrap();
    assert_eq!(entry["path"], "assets/logo.png", "normalised");
    assert_eq!(entry["size"], 5000);
    let res = app.read_file(&token, &id, "assets/logo.png").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["x-content-sha256"].to_str().unwrap(), entry["sha256"].as_str().unwrap());
    assert_eq!(res.bytes().await.unwrap().to_vec(), binary);
    let res = app
        .client
        .get(app.url(&format!("/api/v2/projects/{id}/files/assets/logo.png")))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    assert_eq!(app.put_file(&token, &id, "assets/logo.png", b"replaced".to_vec()).await.status(), 200);
    assert_eq!(app.put_file(&token, &id, "README.md", b"# hi".to_vec()).await.status(), 201);
    let res = app.get_as(&token, &format!("/api/v2/projects/{id}/files")).await;
    let list_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let list: Value = res.json().await.unwrap();
    let paths: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
    assert_eq!(paths, vec!["README.md", "assets/logo.png"]);
    assert_eq!(list["items"][1]["size"], 8);
    let res = app
        .client
        .get(app.url(&format!("/api/v2/projects/{id}/files")))
        .bearer_auth(&token)
        .header("if-none-match", &list_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    assert_eq!(app.delete_file(&token, &id, "README.md").await.status(), 204);
    assert_problem(app.read_file(&token, &id, "README.md").await, 404, "not-found").await;
    let res = app
        .client
        .get(app.url(&format!("/api/v2/projects/{id}/files")))
        .bearer_auth(&token)
        .header("if-none-match", &list_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the list changed, so the old ETag no longer matches");
});

scenario!(file_size_count_and_storage_limits_are_enforced, [sqlite_memory, postgres_redis], |variant: Variant| {
    let env = [("FILE_MAX_BYTES", "1000"), ("PROJECT_MAX_FILES", "3"), ("PROJECT_MAX_BYTES", "2500")];
    let app = TestApp::spawn_with(variant, Options::with_env(&env)).await;
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Limits").await;
    assert_problem(app.put_file(&token, &id, "big.bin", vec![0; 1001]).await, 413, "payload-too-large").await;
    assert_eq!(app.put_file(&token, &id, "a", vec![0; 1000]).await.status(), 201);
    assert_eq!(app.put_file(&token, &id, "b", vec![0; 1000]).await.status(), 201);
    assert_problem(app.put_file(&token, &id, "c", vec![0; 600]).await, 413, "project-storage-full").await;
    assert_eq!(app.put_file(&token, &id, "c", vec![0; 500]).await.status(), 201);
    assert_problem(app.put_file(&token, &id, "d", vec![0; 1]).await, 422, "too-many-files").await;
    // A file cannot also be a directory, nor sit under one that is a file.
    assert_problem(app.put_file(&token, &id, "a/inner.txt", vec![1]).await, 409, "conflict").await;
    // Replacing counts the new size, not both.
    assert_eq!(app.put_file(&token, &id, "a", vec![1; 1000]).await.status(), 200);
    let list: Value = app.get_json_as(&token, &format!("/api/v2/projects/{id}/files")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
});

// Every attack reaches the file routes (`{path:.*}` takes the rest of the target)
// and is refused by `FilePath::parse` before the project's storage is asked
// anything: 422 `validation-failed` on the field `path`, so a GET or DELETE of a
// path that cannot exist never becomes a 404 lookup. Actix percent-decodes the
// tail (`%2e` is `.`, `%2F` is `/`, `%5C` is `\`, `%00` is NUL) and resolves no
// dot segments, so `parse` sees the attack as meant. Its checks run in order:
// length bound, control or invisible characters, backslash, leading `/`, dot
// segments; the first that fails names the rule.
scenario!(path_attacks_are_refused_without_touching_storage, [sqlite_memory, postgres_redis], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Paths").await;
    assert_eq!(app.put_file(&token, &id, "ok.txt", b"fine".to_vec()).await.status(), 201);
    let long = "a".repeat(10_000);
    let attacks = [
        // A `..` segment, as sent or decoded from `%2e%2e` (and `%2F` into `/`).
        ("../x", "dot-segment"),
        ("a/../../etc/passwd", "dot-segment"),
        ("%2e%2e/x", "dot-segment"),
        ("%2E%2E%2Fsecrets", "dot-segment"),
        // `files//etc/passwd`: the tail starts with `/`.
        ("/etc/passwd", "absolute"),
        // `%5C` decodes to `\`, checked before the `..` around it.
        ("a%5Cb", "backslash"),
        ("..%5C..%5Cwindows", "backslash"),
        // NUL, TAB and U+202E RIGHT-TO-LEFT OVERRIDE.
        ("nul%00byte", "control-character"),
        ("tab%09name", "control-character"),
        ("right-to-left%E2%80%AEtxt.exe", "control-character"),
        // Past the cheap bound (4 x 512 bytes), refused before any other work.
        (long.as_str(), "too-long"),
    ];
    let variant = app.variant;
    for (attack, rule) in attacks {
        let target = format!("/api/v2/projects/{id}/files/{attack}");
        for method in ["PUT", "GET", "DELETE"] {
            let (status, response) = app.raw_request(method, &target, &token, b"payload").await;
            let at = format!("{variant:?} {method} {attack}");
            assert_eq!(status, 422, "{at}\n{response}");
            assert!(response.contains("application/problem+json"), "{at}: {response}");
            let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
            let problem: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{at}: {e}: {response}"));
            assert_eq!(problem["code"], "validation-failed", "{at}");
            assert_eq!(problem["errors"][0]["field"], "path", "{at}");
            assert_eq!(problem["errors"][0]["code"], rule, "{at}");
        }
    }
    let list: Value = app.get_json_as(&token, &format!("/api/v2/projects/{id}/files")).await;
    let paths: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
    assert_eq!(paths, vec!["ok.txt"], "{variant:?}: storage untouched");
});

/// Method, path, JSON body, raw body.
type Call = (reqwest::Method, String, Option<Value>, Option<Vec<u8>>);

scenario!(another_users_project_is_not_found_on_every_route, [all], |app: TestApp| {
    let owner = app.new_user().await.access_token;
    let intruder = app.new_user().await.access_token;
    let id = app.create_project_id(&owner, "Mine").await;
    assert_eq!(app.put_file(&owner, &id, "src/app.ts", b"owner's".to_vec()).await.status(), 201);
    assert_eq!(app.post_message(&owner, &id, "owner's").await.status(), 201);

    let base = format!("/api/v2/projects/{id}");
    let calls: Vec<Call> = vec![
        (reqwest::Method::GET, base.clone(), None, None),
        (reqwest::Method::PATCH, base.clone(), Some(json!({"name": "pwned"})), None),
        (reqwest::Method::DELETE, base.clone(), None, None),
        (reqwest::Method::GET, format!("{base}/files"), None, None),
        (reqwest::Method::GET, format!("{base}/files/src/app.ts"), None, None),
        (reqwest::Method::PUT, format!("{base}/files/src/app.ts"), None, Some(b"pwned".to_vec())),
        (reqwest::Method::PUT, format!("{base}/files/new.ts"), None, Some(b"pwned".to_vec())),
        (reqwest::Method::DELETE, format!("{base}/files/src/app.ts"), None, None),
        (reqwest::Method::GET, format!("{base}/messages"), None, None),
        (reqwest::Method::POST, format!("{base}/messages"), Some(json!({"role": "user", "content": "pwned"})), None),
    ];
    for (method, path, json_body, raw_body) in &calls {
        let mut req = app.client.request(method.clone(), app.url(path)).bearer_auth(&intruder);
        if let Some(body) = json_body {
            req = req.json(body);
        }
        if let Some(body) = raw_body {
            req = req.body(body.clone());
        }
        let res = req.send().await.unwrap();
        assert_problem(res, 404, "not-found").await;
        let _ = method;
    }
    // Other id shapes are not found either.
    for other in ["1", "not-a-uuid", "00000000-0000-0000-0000-000000000000", "%00", "..%2F..%2Fusers"] {
        assert_problem(app.get_as(&intruder, &format!("/api/v2/projects/{other}")).await, 404, "not-found").await;
    }
    // Nothing changed for the owner.
    let project: Value = app.get_json_as(&owner, &base).await;
    assert_eq!(project["name"], "Mine");
    let file = app.get_as(&owner, &format!("{base}/files/src/app.ts")).await.bytes().await.unwrap();
    assert_eq!(&file[..], b"owner's");
    let files: Value = app.get_json_as(&owner, &format!("{base}/files")).await;
    assert_eq!(files["items"].as_array().unwrap().len(), 1);
    let messages: Value = app.get_json_as(&owner, &format!("{base}/messages")).await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    let theirs: Value = app.get_json_as(&intruder, "/api/v2/projects").await;
    assert_eq!(theirs["items"], json!([]));
});

scenario!(the_conversation_pages_oldest_first_and_takes_user_messages_only, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Chat").await;
    let path = format!("/api/v2/projects/{id}/messages");
    for i in 0..5 {
        let res = app.post_as(&token, &path, &json!({"role": "user", "content": format!("message {i}")})).await;
        assert_eq!(res.status(), 201);
    }
    let first: Value = app.get_json_as(&token, &format!("{path}?limit=3")).await;
    let contents: Vec<_> =
        first["items"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contents, vec!["message 0", "message 1", "message 2"]);
    let next: Value =
        app.get_json_as(&token, &format!("{path}?limit=3&cursor={}", first["next_cursor"].as_str().unwrap())).await;
    let contents: Vec<_> =
        next["items"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contents, vec!["message 3", "message 4"]);
    assert_eq!(next["next_cursor"], Value::Null);
    for (body, field) in [
        (json!({"role": "assistant", "content": "I am the AI"}), "role"),
        (json!({"role": "user", "content": "   "}), "content"),
        (json!({"role": "user", "content": "x".repeat(32_001)}), "content"),
        (json!({"role": "wizard", "content": "x"}), "role"),
    ] {
        let problem = assert_problem(app.post_as(&token, &path, &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
});

scenario!(idempotency_keys_replay_refuse_and_serialise, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let post = |key: &'static str, name: &'static str| {
        app.client
            .post(app.url("/api/v2/projects"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"name": name}))
            .send()
    };
    let first = post("key-1", "Once").await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let replay = post("key-1", "Once").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first_body["id"]);
    assert_problem(post("key-1", "Different").await.unwrap(), 422, "idempotency-key-reused").await;

    // Concurrent duplicates: one effect; the rest replay it or are told it is in flight.
    let dupes = (0..8).map(|_| post("key-2", "Concurrent"));
    let results = futures_util::future::join_all(dupes).await;
    let mut ids = std::collections::BTreeSet::new();
    for res in results {
        let res = res.unwrap();
        match res.status().as_u16() {
            201 => {
                ids.insert(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_problem(res, 409, "idempotency-in-flight").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ids.len(), 1, "one project for one key");
    let list: Value = app.get_json_as(&token, "/api/v2/projects").await;
    let concurrent = list["items"].as_array().unwrap().iter().filter(|p| p["name"] == "Concurrent").count();
    assert_eq!(concurrent, 1);

    // Messages take keys too; keys are per user.
    let id = first_body["id"].as_str().unwrap();
    let msg = |key: &'static str| {
        app.client
            .post(app.url(&format!("/api/v2/projects/{id}/messages")))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"role": "user", "content": "hello"}))
            .send()
    };
    let a: Value = msg("m-1").await.unwrap().json().await.unwrap();
    let b: Value = msg("m-1").await.unwrap().json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let messages: Value = app.get_json_as(&token, &format!("/api/v2/projects/{id}/messages")).await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    let other_user = app.new_user().await.access_token;
    let theirs = app
        .client
        .post(app.url("/api/v2/projects"))
        .bearer_auth(&other_user)
        .header("idempotency-key", "key-1")
        .json(&json!({"name": "Theirs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert_ne!(theirs.json::<Value>().await.unwrap()["id"], first_body["id"]);
    let bad = app
        .client
        .post(app.url("/api/v2/projects"))
        .bearer_auth(&token)
        .header("idempotency-key", "x".repeat(300))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 422, "validation-failed").await;
});

/// Two nodes of `variant` (Postgres and Redis) on one database and one Redis,
/// each behind its own proxy to Redis.
async fn two_nodes(variant: Variant) -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(variant, Options { proxy_redis: true, ..Options::default() }).await;
    let prefix = a.settings(vec![]).redis.map(|r| r.key_prefix).expect("a Redis variant");
    let b = TestApp::spawn_with(
        variant,
        Options {
            proxy_redis: true,
            database_url: a.database_url.clone(),
            redis_prefix: Some(prefix),
            ..Options::default()
        },
    )
    .await;
    (a, b)
}

async fn name_on(app: &TestApp, token: &str, id: &str) -> (u16, Option<String>) {
    let res = app.get_as(token, &format!("/api/v2/projects/{id}")).await;
    let status = res.status().as_u16();
    assert!(status < 500, "a 5xx from a read: {status}");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["name"].as_str().map(str::to_owned))
}

scenario!(a_write_on_one_node_is_read_on_the_other_never_stale, [postgres_redis], threads = 4, |variant: Variant| {
    let (a, b) = two_nodes(variant).await;
    let token = a.new_user().await.access_token;
    let id = a.create_project_id(&token, "v0").await;
    for round in 1..=15 {
        // Warm A's view, write through B, read through A.
        assert_eq!(name_on(&a, &token, &id).await.1.as_deref(), Some(format!("v{}", round - 1).as_str()));
        let res = b.rename_project(&token, &id, &format!("v{round}")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            name_on(&a, &token, &id).await.1.as_deref(),
            Some(format!("v{round}").as_str()),
            "stale read in round {round}"
        );
    }
    // Lists and file lists too.
    let count = |v: Value| v["items"].as_array().map_or(0, Vec::len);
    assert_eq!(count(a.get_json_as(&token, "/api/v2/projects").await), 1);
    b.create_project(&token, "second").await;
    assert_eq!(count(a.get_json_as(&token, "/api/v2/projects").await), 2);
    let files_path = format!("/api/v2/projects/{id}/files");
    assert_eq!(count(a.get_json_as(&token, &files_path).await), 0);
    assert_eq!(b.put_file(&token, &id, "x.ts", b"1".to_vec()).await.status(), 201);
    assert_eq!(count(a.get_json_as(&token, &files_path).await), 1);
    // Delete on B: gone on A.
    assert_eq!(b.delete_project(&token, &id).await.status(), 204);
    assert_eq!(name_on(&a, &token, &id).await.0, 404);
});

scenario!(
    with_redis_stopped_midway_nothing_fails_and_nothing_is_stale,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let (a, b) = two_nodes(variant).await;
        let token = a.new_user().await.access_token;
        let id = a.create_project_id(&token, "before").await;
        assert_eq!(name_on(&a, &token, &id).await.1.as_deref(), Some("before"));
        assert_eq!(name_on(&b, &token, &id).await.1.as_deref(), Some("before"));

        for node in [&a, &b] {
            node.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Refuse);
        }
        // Writes and reads keep working from the database, with no 5xx and no stale reads.
        for round in 0..5 {
            let res = b.rename_project(&token, &id, &format!("during-{round}")).await;
            assert_eq!(res.status(), 200);
            assert_eq!(name_on(&a, &token, &id).await.1, Some(format!("during-{round}")));
            let started = std::time::Instant::now();
            assert_eq!(name_on(&b, &token, &id).await.1, Some(format!("during-{round}")));
            assert!(started.elapsed() < Duration::from_secs(2), "a read took {:?} with Redis down", started.elapsed());
        }
        assert_eq!(a.get("/health/ready").await.status(), 200);

        // Redis returns: the cache resumes by itself, and the invalidations B could
        // not make while it was down are made before anyone reads the old entries.
        for node in [&a, &b] {
            node.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
        }
        tokio::time::sleep(Duration::from_millis(3000)).await;
        for _ in 0..5 {
            assert_eq!(name_on(&a, &token, &id).await.1.as_deref(), Some("during-4"));
            assert_eq!(name_on(&b, &token, &id).await.1.as_deref(), Some("during-4"));
        }
        let metrics = a.get("/metrics").await.text().await.unwrap();
        let serves = ["hit", "held"].iter().any(|outcome| {
            metrics.contains(&format!("cache_requests_total{{backend=\"redis\",outcome=\"{outcome}\"}}"))
        });
        assert!(serves, "the cache serves again");
        assert!(metrics.contains("redis_circuit_state"), "{metrics}");
    }
);

scenario!(a_patch_that_changes_nothing_does_not_move_updated_at, [all], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let created = app.create_project(&token, "Recipes").await;
    let path = format!("/api/v2/projects/{}", created["id"].as_str().unwrap());
    let updated_at = |body: &Value| chrono::DateTime::parse_from_rfc3339(body["updated_at"].as_str().unwrap()).unwrap();
    let stamp = updated_at(&created);
    for (body, what) in [
        (json!({}), "an empty patch"),
        (json!({"name": "Recipes", "framework": "react"}), "the same values"),
        (json!({"name": "  Recipes  "}), "the same name once trimmed"),
        (json!({"name": null, "description": null}), "null name (unchanged) and a description it does not have"),
    ] {
        let res = app.patch_as(&token, &path, &body).await;
        assert_eq!(res.status(), 200, "{what}");
        let patched: Value = res.json().await.unwrap();
        assert_eq!(updated_at(&patched), stamp, "{what} moved updated_at");
        assert_eq!(updated_at(&app.get_json_as(&token, &path).await), stamp, "{what}: as read back");
    }
    let renamed: Value = app.patch_as(&token, &path, &json!({"name": "Recipe box"})).await.json().await.unwrap();
    assert_eq!(renamed["name"], "Recipe box");
    assert!(updated_at(&renamed) > stamp, "a real change moves it: {} after {stamp}", updated_at(&renamed));
});
