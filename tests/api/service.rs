use super::*;

scenario!(root_describes_the_api, [all], |app: TestApp| {
    let res = app.get("/api/v2").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Devora API");
    assert_eq!(body["api_version"], "v2");
    assert_eq!(body["links"]["openapi_json"], "/openapi.json");
});

scenario!(liveness_answers_ok, [all], |app: TestApp| {
    let res = app.get("/health/live").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
});

scenario!(readiness_reports_database_and_redis, [all], |app: TestApp| {
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "up");
    let db = &body["checks"]["database"];
    assert_eq!(db["status"], "up");
    let expected_db = match app.variant.db {
        devora_e2e::Db::Sqlite => "sqlite",
        devora_e2e::Db::Postgres => "postgres",
    };
    assert_eq!(db["backend"], expected_db);
    let redis = &body["checks"]["redis"];
    match app.variant.kv {
        devora_e2e::Kv::Redis => {
            assert_eq!(redis["status"], "up");
            assert_eq!(redis["backend"], "redis");
        }
        devora_e2e::Kv::Memory => {
            assert_eq!(redis["status"], "disabled");
            assert_eq!(redis["backend"], "in-process");
        }
    }
});

scenario!(metrics_expose_requests_latency_and_pool, [all], |app: TestApp| {
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/health/ready",status="200"}"#), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("db_pool_connections{backend="), "{text}");
    if app.variant.kv == devora_e2e::Kv::Redis {
        assert!(text.contains("redis_up 1"), "{text}");
    }
});

scenario!(openapi_is_served_as_json_and_yaml_version_3_1, [sqlite_memory], |app: TestApp| {
    let json: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(json["openapi"], "3.1.0");
    for path in ["/api/v2", "/health/live", "/health/ready", "/metrics"] {
        assert!(json["paths"][path].is_object(), "{path} missing from the document");
    }
    assert!(json["components"]["schemas"]["Problem"].is_object());
    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.headers()["content-type"], "application/yaml");
    assert!(yaml.text().await.unwrap().starts_with("openapi: 3.1.0"));
});

scenario!(documentation_uis_are_served_from_the_binary, [sqlite_memory], |app: TestApp| {
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "/docs/");
    let html = app.get("/docs/").await.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "no CDN: {html}");
    let config = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(config.contains("/openapi.json"), "{config}");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);

    let redoc = app.get("/redoc").await.text().await.unwrap();
    assert!(redoc.contains(r#"spec-url="/openapi.json""#) && redoc.contains("/redoc/redoc.standalone.js"));
    let js = app.get("/redoc/redoc.standalone.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 500_000);
});

scenario!(responses_carry_security_headers_and_are_compressed_on_request, [sqlite_memory], |app: TestApp| {
    let res = app.get("/api/v2").await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ] {
        assert_eq!(res.headers()[name], value, "{name}");
    }
    let res = app.client.get(app.url("/openapi.json")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
});

scenario!(cors_allows_the_frontend_origin_only, [sqlite_memory], |app: TestApp| {
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v2"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:5173");

    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    assert_problem(refused, 400, "malformed-request").await;

    // Browser code can read every response header the OpenAPI document describes.
    let res = app.client.get(app.url("/api/v2")).header("origin", "http://localhost:5173").send().await.unwrap();
    let exposed = res.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    let exposed: Vec<&str> = exposed.split(',').map(str::trim).collect();
    let doc = serde_json::to_value(devora_http::openapi_document()).unwrap();
    let mut documented: Vec<String> = doc["components"]["headers"].as_object().unwrap().keys().cloned().collect();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                documented.extend(response["headers"].as_object().into_iter().flat_map(|h| h.keys().cloned()));
            }
        }
    }
    for name in documented {
        assert!(
            exposed.contains(&name.to_ascii_lowercase().as_str()),
            "{name} is not exposed to browsers: {exposed:?}"
        );
    }

    // A simple request from an unknown origin is served without CORS headers.
    let res = app.client.get(app.url("/api/v2")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
});
