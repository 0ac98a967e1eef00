//! Dependencies failing: Redis down is never fatal; a database down is a fast 503.

use std::time::{Duration, Instant};

use super::*;

async fn readiness(app: &TestApp) -> (u16, Value, Duration) {
    let started = Instant::now();
    let res = app.get("/health/ready").await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap(), elapsed)
}

async fn redis_outage(variant: Variant, mode: ProxyMode) {
    let app = TestApp::spawn_with(variant, Options { proxy_redis: true, ..Options::default() }).await;
    let (status, body, _) = readiness(&app).await;
    assert_eq!((status, &body["checks"]["redis"]["status"]), (200, &Value::from("up")));

    app.redis_proxy.as_ref().unwrap().set_mode(mode);
    for _ in 0..3 {
        let (status, body, elapsed) = readiness(&app).await;
        assert_eq!(status, 200, "Redis down must not make the node unready: {body}");
        assert_eq!(body["checks"]["redis"]["status"], "down");
        assert_eq!(body["checks"]["database"]["status"], "up");
        // The readiness bound (1.5 s per check) holds; the margin absorbs a noisy machine.
        assert!(elapsed < Duration::from_secs(3), "readiness took {elapsed:?}");
        assert_eq!(app.get("/api/v2").await.status(), 200);
    }

    app.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
    let mut recovered = false;
    for _ in 0..50 {
        let (_, body, _) = readiness(&app).await;
        if body["checks"]["redis"]["status"] == "up" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "Redis was not reported up again after it came back");
}

scenario!(redis_refusing_connections_leaves_the_node_ready, [sqlite_redis], |variant: Variant| {
    redis_outage(variant, ProxyMode::Refuse).await;
});

scenario!(redis_hanging_leaves_the_node_ready_without_hanging_it, [postgres_redis], |variant: Variant| {
    redis_outage(variant, ProxyMode::Blackhole).await;
});

async fn database_outage(variant: Variant, mode: ProxyMode) {
    let app = TestApp::spawn_with(variant, Options { proxy_database: true, ..Options::default() }).await;
    assert_eq!(readiness(&app).await.0, 200);
    app.database_proxy.as_ref().unwrap().set_mode(mode);
    for _ in 0..2 {
        let (status, body, elapsed) = readiness(&app).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "down");
        assert_eq!(body["checks"]["database"]["status"], "down");
        assert!(elapsed < Duration::from_secs(3), "an unreachable database took {elapsed:?} to report");
    }
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health/live").await.status(), 200);

    app.database_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
    let mut recovered = false;
    for _ in 0..50 {
        if readiness(&app).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness did not recover with the database");
}

scenario!(an_unreachable_database_gives_a_fast_503, [postgres_memory], |variant: Variant| {
    database_outage(variant, ProxyMode::Refuse).await;
});

scenario!(a_hanging_database_gives_a_503_within_the_bound, [postgres_memory], |variant: Variant| {
    database_outage(variant, ProxyMode::Blackhole).await;
});

// With the database cut, API calls that need it answer 503 `service-unavailable`
// with `Retry-After` (a moment to wait, not a bug to report), within the pool's
// acquire timeout, and work again once it is back.
scenario!(api_calls_answer_503_while_the_database_is_down, [postgres_memory], |variant: Variant| {
    let options = Options {
        proxy_database: true,
        env: vec![("DATABASE_CONNECT_TIMEOUT_SECS".into(), "1".into())],
        ..Options::default()
    };
    let app = TestApp::spawn_with(variant, options).await;
    let token = app.register("outage@example.com").await.access_token;
    let project = app.post_as(&token, "/api/v2/projects", &serde_json::json!({"name": "Outage"})).await;
    let project: Value = project.json().await.unwrap();
    let messages = format!("/api/v2/projects/{}/messages", project["id"].as_str().unwrap());
    assert_eq!(app.get_as(&token, &messages).await.status(), 200);

    app.database_proxy.as_ref().unwrap().set_mode(ProxyMode::Refuse);
    let started = Instant::now();
    let res = app.get_as(&token, &messages).await;
    let elapsed = started.elapsed();
    assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()), Some("2".to_owned()));
    assert_problem(res, 503, "service-unavailable").await;
    assert!(elapsed < Duration::from_secs(4), "the 503 took {elapsed:?}");
    let res = app
        .post(
            "/api/v2/auth/register",
            &serde_json::json!({"email": "during@example.com", "password": PASSWORD, "name": "During"}),
        )
        .await;
    assert_problem(res, 503, "service-unavailable").await;

    app.database_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
    let mut status = 0;
    for _ in 0..50 {
        status = app.get_as(&token, &messages).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the API did not recover with the database");
});

// A statement stuck behind a lock is cancelled by Postgres after
// `DATABASE_STATEMENT_TIMEOUT_MS` and answered 503, instead of holding its pooled
// connection (and its client) for as long as the lock lasts.
scenario!(a_statement_stuck_behind_a_lock_is_cancelled_with_a_503, [postgres_memory], |variant: Variant| {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let options = Options::with_env(&[("DATABASE_STATEMENT_TIMEOUT_MS", "300")]);
    let app = TestApp::spawn_with(variant, options).await;
    let token = app.register("locked@example.com").await.access_token;
    let project = app.post_as(&token, "/api/v2/projects", &serde_json::json!({"name": "Locked"})).await;
    let project: Value = project.json().await.unwrap();
    let id = project["id"].as_str().unwrap().to_owned();
    let patch = |name: &'static str| app.rename_project(&token, &id, name);

    // Another client holds the project's row lock.
    let db = sea_orm::Database::connect(app.database_url.clone().unwrap()).await.unwrap();
    let holder = db.begin().await.unwrap();
    holder.execute_unprepared(&format!("SELECT id FROM projects WHERE id = '{id}' FOR UPDATE")).await.unwrap();
    let started = Instant::now();
    let res = patch("Renamed").await;
    let elapsed = started.elapsed();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "service-unavailable").await;
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "cancelled after {elapsed:?}");

    holder.rollback().await.unwrap();
    let res = patch("Renamed").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Renamed");
});
