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
    let Some(app) = TestApp::spawn_with(variant, Options { proxy_redis: true, ..Options::default() }).await else {
        return;
    };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_connections_leaves_the_node_ready() {
    redis_outage(Variant::SQLITE_REDIS, ProxyMode::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hanging_leaves_the_node_ready_without_hanging_it() {
    redis_outage(Variant::POSTGRES_REDIS, ProxyMode::Blackhole).await;
}

async fn database_outage(mode: ProxyMode) {
    let Some(app) =
        TestApp::spawn_with(Variant::POSTGRES_MEMORY, Options { proxy_database: true, ..Options::default() }).await
    else {
        return;
    };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gives_a_fast_503() {
    database_outage(ProxyMode::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_database_gives_a_503_within_the_bound() {
    database_outage(ProxyMode::Blackhole).await;
}

/// With the database cut, API calls that need it answer 503 `service-unavailable`
/// with `Retry-After` (a moment to wait, not a bug to report), within the pool's
/// acquire timeout, and work again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_answer_503_while_the_database_is_down() {
    let options = Options {
        proxy_database: true,
        env: vec![("DATABASE_CONNECT_TIMEOUT_SECS".into(), "1".into())],
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(Variant::POSTGRES_MEMORY, options).await else { return };
    let token = access(&register(&app, "outage@example.com").await);
    let project = post_json(&app, "/api/v2/projects", serde_json::json!({"name": "Outage"}), Some(&token)).await;
    let project: Value = project.json().await.unwrap();
    let messages = format!("/api/v2/projects/{}/messages", project["id"].as_str().unwrap());
    assert_eq!(get_with(&app, &messages, &token).await.status(), 200);

    app.database_proxy.as_ref().unwrap().set_mode(ProxyMode::Refuse);
    let started = Instant::now();
    let res = get_with(&app, &messages, &token).await;
    let elapsed = started.elapsed();
    assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()), Some("2".to_owned()));
    assert_problem(res, 503, "service-unavailable").await;
    assert!(elapsed < Duration::from_secs(4), "the 503 took {elapsed:?}");
    let res = post_json(
        &app,
        "/api/v2/auth/register",
        serde_json::json!({"email": "during@example.com", "password": PASSWORD, "name": "During"}),
        None,
    )
    .await;
    assert_problem(res, 503, "service-unavailable").await;

    app.database_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
    let mut status = 0;
    for _ in 0..50 {
        status = get_with(&app, &messages, &token).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the API did not recover with the database");
}

/// A statement stuck behind a lock is cancelled by Postgres after
/// `DATABASE_STATEMENT_TIMEOUT_MS` and answered 503, instead of holding its pooled
/// connection (and its client) for as long as the lock lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_behind_a_lock_is_cancelled_with_a_503() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let options = Options { env: vec![("DATABASE_STATEMENT_TIMEOUT_MS".into(), "300".into())], ..Options::default() };
    let Some(app) = TestApp::spawn_with(Variant::POSTGRES_MEMORY, options).await else { return };
    let token = access(&register(&app, "locked@example.com").await);
    let project = post_json(&app, "/api/v2/projects", serde_json::json!({"name": "Locked"}), Some(&token)).await;
    let project: Value = project.json().await.unwrap();
    let id = project["id"].as_str().unwrap().to_owned();
    let patch = |name: &'static str| {
        let (app, token, id) = (&app, &token, &id);
        async move {
            app.client
                .patch(app.url(&format!("/api/v2/projects/{id}")))
                .bearer_auth(token)
                .json(&serde_json::json!({ "name": name }))
                .send()
                .await
                .unwrap()
        }
    };

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
}
