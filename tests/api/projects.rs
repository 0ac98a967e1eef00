//! Projects, files and conversations: ownership, paths, limits, idempotency, and
//! a cache that is never stale across nodes, with or without Redis.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

async fn user(app: &TestApp) -> String {
    access(&register(app, &email()).await)
}

async fn create_project(app: &TestApp, token: &str, name: &str) -> Value {
    let res = post_json(app, "/api/v2/projects", json!({"name": name, "framework": "react"}), Some(token)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert!(res.headers().get("location").is_some());
    res.json().await.unwrap()
}

async fn put_file(app: &TestApp, token: &str, project: &str, path: &str, content: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v2/projects/{project}/files/{path}")))
        .bearer_auth(token)
        .body(content)
        .send()
        .await
        .unwrap()
}

/// Sends a request with the target exactly as given (reqwest would normalise `..`).
async fn raw(app: &TestApp, method: &str, target: &str, token: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

all_variants!(projects_are_created_listed_read_updated_and_deleted, |app| {
    let token = user(&app).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_project(&app, &token, &format!("Project {i}")).await["id"].as_str().unwrap().to_owned());
    }
    // Newest first, in pages that do not move when more projects arrive.
    let first: Value = get_with(&app, "/api/v2/projects?limit=2", &token).await.json().await.unwrap();
    let names: Vec<_> =
        first["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, vec!["Project 4", "Project 3"]);
    create_project(&app, &token, "Project 5").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value =
        get_with(&app, &format!("/api/v2/projects?limit=2&cursor={cursor}"), &token).await.json().await.unwrap();
    let names: Vec<_> =
        second["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, vec!["Project 2", "Project 1"]);
    let third: Value =
        get_with(&app, &format!("/api/v2/projects?limit=2&cursor={}", second["next_cursor"].as_str().unwrap()), &token)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(third["items"].as_array().unwrap().len(), 1);
    assert_eq!(third["next_cursor"], Value::Null);
    let all: Value = get_with(&app, "/api/v2/projects", &token).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);

    let id = &ids[0];
    let res = app
        .client
        .patch(app.url(&format!("/api/v2/projects/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "  Renamed  ", "description": "Now with a description"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got: Value = get_with(&app, &format!("/api/v2/projects/{id}"), &token).await.json().await.unwrap();
    assert_eq!(
        (got["name"].as_str(), got["description"].as_str(), got["framework"].as_str()),
        (Some("Renamed"), Some("Now with a description"), Some("react"))
    );
    let res = app
        .client
        .patch(app.url(&format!("/api/v2/projects/{id}")))
        .bearer_auth(&token)
        .json(&json!({"description": null, "framework": null}))
        .send()
        .await
        .unwrap();
    let cleared: Value = res.json().await.unwrap();
    // A positional array is not a patch: refused, and nothing changes.
    let res = app
        .client
        .patch(app.url(&format!("/api/v2/projects/{id}")))
        .bearer_auth(&token)
        .json(&json!(["x", null, null]))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation-failed").await;
    assert_eq!(
        (cleared["description"].clone(), cleared["framework"].clone(), cleared["name"].as_str()),
        (Value::Null, Value::Null, Some("Renamed"))
    );

    // Delete takes files and messages with it.
    assert_eq!(put_file(&app, &token, id, "src/main.ts", b"x".to_vec()).await.status(), 201);
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v2/projects/{id}/messages"),
            json!({"role": "user", "content": "hi"}),
            Some(&token)
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/v2/projects/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_problem(get_with(&app, &format!("/api/v2/projects/{id}"), &token).await, 404, "not-found").await;
    assert_problem(get_with(&app, &format!("/api/v2/projects/{id}/files"), &token).await, 404, "not-found").await;
    assert_problem(
        app.client.delete(app.url(&format!("/api/v2/projects/{id}"))).bearer_auth(&token).send().await.unwrap(),
        404,
        "not-found",
    )
    .await;
});

all_variants!(bad_project_input_is_refused, |app| {
    let token = user(&app).await;
    for (body, field) in [
        (json!({"name": " "}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"name": "ok", "description": "d".repeat(2001)}), "description"),
        (json!({"name": "ok", "framework": "cobol"}), "framework"),
        (json!({"name": "ok", "owner_id": "someone"}), "owner_id"),
    ] {
        let problem = assert_problem(
            post_json(&app, "/api/v2/projects", body.clone(), Some(&token)).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    for query in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        assert_problem(get_with(&app, &format!("/api/v2/projects?{query}"), &token).await, 422, "validation-failed")
            .await;
    }
    let list: Value = get_with(&app, "/api/v2/projects", &token).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]), "nothing was created");
    assert_problem(app.get("/api/v2/projects").await, 401, "unauthenticated").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_limit_holds_under_concurrent_creates() {
    for variant in [Variant::SQLITE_MEMORY, Variant::POSTGRES_REDIS] {
        let options = Options { env: vec![("FREE_PLAN_MAX_PROJECTS".into(), "3".into())], ..Options::default() };
        let Some(app) = TestApp::spawn_with(variant, options).await else { continue };
        let token = user(&app).await;
        let creates =
            (0..10).map(|i| post_json(&app, "/api/v2/projects", json!({"name": format!("p{i}")}), Some(&token)));
        let statuses: Vec<u16> =
            futures_util::future::join_all(creates).await.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{variant:?}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 7, "{variant:?}: {statuses:?}");
        let list: Value = get_with(&app, "/api/v2/projects", &token).await.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 3);
        assert_problem(
            post_json(&app, "/api/v2/projects", json!({"name": "one more"}), Some(&token)).await,
            403,
            "plan-limit",
        )
        .await;
    }
}

all_variants!(files_are_binary_safe_with_size_sha256_and_etags, |app| {
    let token = user(&app).await;
    let id = create_project(&app, &token, "Files").await["id"].as_str().unwrap().to_owned();
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let res = put_file(&app, &token, &id, "assets//logo.png", binary.clone()).await;
    assert_eq!(res.status(), 201);
    let entry: Value = res.json().await.unwrap();
    assert_eq!(entry["path"], "assets/logo.png", "normalised");
    assert_eq!(entry["size"], 5000);
    let res = app
        .client
        .get(app.url(&format!("/api/v2/projects/{id}/files/assets/logo.png")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
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

    assert_eq!(put_file(&app, &token, &id, "assets/logo.png", b"replaced".to_vec()).await.status(), 200);
    assert_eq!(put_file(&app, &token, &id, "README.md", b"# hi".to_vec()).await.status(), 201);
    let res = get_with(&app, &format!("/api/v2/projects/{id}/files"), &token).await;
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

    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/v2/projects/{id}/files/README.md")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_problem(get_with(&app, &format!("/api/v2/projects/{id}/files/README.md"), &token).await, 404, "not-found")
        .await;
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

sqlite_and_postgres_redis!(file_size_count_and_storage_limits_are_enforced, |variant| {
    let env = vec![
        ("FILE_MAX_BYTES".into(), "1000".into()),
        ("PROJECT_MAX_FILES".into(), "3".into()),
        ("PROJECT_MAX_BYTES".into(), "2500".into()),
    ];
    let Some(app) = TestApp::spawn_with(variant, Options { env, ..Options::default() }).await else {
        return;
    };
    let token = user(&app).await;
    let id = create_project(&app, &token, "Limits").await["id"].as_str().unwrap().to_owned();
    assert_problem(put_file(&app, &token, &id, "big.bin", vec![0; 1001]).await, 413, "payload-too-large").await;
    assert_eq!(put_file(&app, &token, &id, "a", vec![0; 1000]).await.status(), 201);
    assert_eq!(put_file(&app, &token, &id, "b", vec![0; 1000]).await.status(), 201);
    assert_problem(put_file(&app, &token, &id, "c", vec![0; 600]).await, 413, "project-storage-full").await;
    assert_eq!(put_file(&app, &token, &id, "c", vec![0; 500]).await.status(), 201);
    assert_problem(put_file(&app, &token, &id, "d", vec![0; 1]).await, 422, "too-many-files").await;
    // A file cannot also be a directory, nor sit under one that is a file.
    assert_problem(put_file(&app, &token, &id, "a/inner.txt", vec![1]).await, 409, "conflict").await;
    // Replacing counts the new size, not both.
    assert_eq!(put_file(&app, &token, &id, "a", vec![1; 1000]).await.status(), 200);
    let list: Value = get_with(&app, &format!("/api/v2/projects/{id}/files"), &token).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_attacks_are_refused_without_touching_storage() {
    for variant in [Variant::SQLITE_MEMORY, Variant::POSTGRES_REDIS] {
        let Some(app) = TestApp::spawn(variant).await else { continue };
        let token = user(&app).await;
        let id = create_project(&app, &token, "Paths").await["id"].as_str().unwrap().to_owned();
        assert_eq!(put_file(&app, &token, &id, "ok.txt", b"fine".to_vec()).await.status(), 201);
        let long = "a".repeat(10_000);
        let attacks = [
            "../x".to_owned(),
            "a/../../etc/passwd".to_owned(),
            "%2e%2e/x".to_owned(),
            "%2E%2E%2Fsecrets".to_owned(),
            "/etc/passwd".to_owned(),
            "a%5Cb".to_owned(),
            "..%5C..%5Cwindows".to_owned(),
            "nul%00byte".to_owned(),
            "tab%09name".to_owned(),
            "right-to-left%E2%80%AEtxt.exe".to_owned(),
            long,
        ];
        for attack in &attacks {
            let target = format!("/api/v2/projects/{id}/files/{attack}");
            for method in ["PUT", "GET", "DELETE"] {
                let (status, body) = raw(&app, method, &target, &token, b"payload").await;
                assert!(
                    status == 422 || status == 404 || status == 400,
                    "{variant:?} {method} {attack}: {status}\n{body}"
                );
                assert!(body.contains("application/problem+json"), "{method} {attack}: {body}");
            }
        }
        let list: Value = get_with(&app, &format!("/api/v2/projects/{id}/files"), &token).await.json().await.unwrap();
        let paths: Vec<_> =
            list["items"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
        assert_eq!(paths, vec!["ok.txt"], "{variant:?}: storage untouched");
    }
}

/// Method, path, JSON body, raw body.
type Call = (reqwest::Method, String, Option<Value>, Option<Vec<u8>>);

all_variants!(another_users_project_is_not_found_on_every_route, |app| {
    let owner = user(&app).await;
    let intruder = user(&app).await;
    let id = create_project(&app, &owner, "Mine").await["id"].as_str().unwrap().to_owned();
    assert_eq!(put_file(&app, &owner, &id, "src/app.ts", b"owner's".to_vec()).await.status(), 201);
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v2/projects/{id}/messages"),
            json!({"role": "user", "content": "owner's"}),
            Some(&owner)
        )
        .await
        .status(),
        201
    );

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
        assert_problem(get_with(&app, &format!("/api/v2/projects/{other}"), &intruder).await, 404, "not-found").await;
    }
    // Nothing changed for the owner.
    let project: Value = get_with(&app, &base, &owner).await.json().await.unwrap();
    assert_eq!(project["name"], "Mine");
    let file = get_with(&app, &format!("{base}/files/src/app.ts"), &owner).await.bytes().await.unwrap();
    assert_eq!(&file[..], b"owner's");
    let files: Value = get_with(&app, &format!("{base}/files"), &owner).await.json().await.unwrap();
    assert_eq!(files["items"].as_array().unwrap().len(), 1);
    let messages: Value = get_with(&app, &format!("{base}/messages"), &owner).await.json().await.unwrap();
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    let theirs: Value = get_with(&app, "/api/v2/projects", &intruder).await.json().await.unwrap();
    assert_eq!(theirs["items"], json!([]));
});

all_variants!(the_conversation_pages_oldest_first_and_takes_user_messages_only, |app| {
    let token = user(&app).await;
    let id = create_project(&app, &token, "Chat").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/projects/{id}/messages");
    for i in 0..5 {
        let res =
            post_json(&app, &path, json!({"role": "user", "content": format!("message {i}")}), Some(&token)).await;
        assert_eq!(res.status(), 201);
    }
    let first: Value = get_with(&app, &format!("{path}?limit=3"), &token).await.json().await.unwrap();
    let contents: Vec<_> =
        first["items"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contents, vec!["message 0", "message 1", "message 2"]);
    let next: Value =
        get_with(&app, &format!("{path}?limit=3&cursor={}", first["next_cursor"].as_str().unwrap()), &token)
            .await
            .json()
            .await
            .unwrap();
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
        let problem =
            assert_problem(post_json(&app, &path, body.clone(), Some(&token)).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
});

all_variants!(idempotency_keys_replay_refuse_and_serialise, |app| {
    let token = user(&app).await;
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
    let list: Value = get_with(&app, "/api/v2/projects", &token).await.json().await.unwrap();
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
    let messages: Value =
        get_with(&app, &format!("/api/v2/projects/{id}/messages"), &token).await.json().await.unwrap();
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    let other_user = user(&app).await;
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

/// Two nodes on one Postgres database and one Redis, each behind its own proxy to Redis.
async fn two_nodes() -> Option<(TestApp, TestApp)> {
    let a = TestApp::spawn_with(Variant::POSTGRES_REDIS, Options { proxy_redis: true, ..Options::default() }).await?;
    let prefix = a.settings(vec![]).redis.map(|r| r.key_prefix)?;
    let b = TestApp::spawn_with(
        Variant::POSTGRES_REDIS,
        Options {
            proxy_redis: true,
            database_url: a.database_url.clone(),
            redis_prefix: Some(prefix),
            ..Options::default()
        },
    )
    .await?;
    Some((a, b))
}

async fn name_on(app: &TestApp, token: &str, id: &str) -> (u16, Option<String>) {
    let res = get_with(app, &format!("/api/v2/projects/{id}"), token).await;
    let status = res.status().as_u16();
    assert!(status < 500, "a 5xx from a read: {status}");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["name"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_node_is_read_on_the_other_never_stale() {
    let Some((a, b)) = two_nodes().await else { return };
    let token = user(&a).await;
    let id = create_project(&a, &token, "v0").await["id"].as_str().unwrap().to_owned();
    for round in 1..=15 {
        // Warm A's view, write through B, read through A.
        assert_eq!(name_on(&a, &token, &id).await.1.as_deref(), Some(format!("v{}", round - 1).as_str()));
        let res = b
            .client
            .patch(b.url(&format!("/api/v2/projects/{id}")))
            .bearer_auth(&token)
            .json(&json!({"name": format!("v{round}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            name_on(&a, &token, &id).await.1.as_deref(),
            Some(format!("v{round}").as_str()),
            "stale read in round {round}"
        );
    }
    // Lists and file lists too.
    let count = |v: Value| v["items"].as_array().map_or(0, Vec::len);
    assert_eq!(count(get_with(&a, "/api/v2/projects", &token).await.json().await.unwrap()), 1);
    create_project(&b, &token, "second").await;
    assert_eq!(count(get_with(&a, "/api/v2/projects", &token).await.json().await.unwrap()), 2);
    let files_path = format!("/api/v2/projects/{id}/files");
    assert_eq!(count(get_with(&a, &files_path, &token).await.json().await.unwrap()), 0);
    assert_eq!(put_file(&b, &token, &id, "x.ts", b"1".to_vec()).await.status(), 201);
    assert_eq!(count(get_with(&a, &files_path, &token).await.json().await.unwrap()), 1);
    // Delete on B: gone on A.
    assert_eq!(
        b.client.delete(b.url(&format!("/api/v2/projects/{id}"))).bearer_auth(&token).send().await.unwrap().status(),
        204
    );
    assert_eq!(name_on(&a, &token, &id).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_stopped_midway_nothing_fails_and_nothing_is_stale() {
    let Some((a, b)) = two_nodes().await else { return };
    let token = user(&a).await;
    let id = create_project(&a, &token, "before").await["id"].as_str().unwrap().to_owned();
    assert_eq!(name_on(&a, &token, &id).await.1.as_deref(), Some("before"));
    assert_eq!(name_on(&b, &token, &id).await.1.as_deref(), Some("before"));

    for node in [&a, &b] {
        node.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Refuse);
    }
    // Writes and reads keep working from the database, with no 5xx and no stale reads.
    for round in 0..5 {
        let res = b
            .client
            .patch(b.url(&format!("/api/v2/projects/{id}")))
            .bearer_auth(&token)
            .json(&json!({"name": format!("during-{round}")}))
            .send()
            .await
            .unwrap();
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
    assert!(metrics.contains("cache_requests_total{backend=\"redis\",outcome=\"hit\"}"), "the cache serves again");
    assert!(metrics.contains("redis_circuit_state"), "{metrics}");
}
