//! The hot path on Redis: an authenticated cached read costs one round trip
//! (the rate-limit check, the session's and the resource's versions in one
//! script) and is served from the node's in-process tier once those versions
//! are confirmed. Round trips are counted at a proxy between server and Redis.

use super::*;

/// Redis commands the server sends for `times` GETs of `path`, after a warm-up.
/// Background work can add a command now and then, so the fewest of three tries.
async fn commands_per_get(app: &TestApp, token: &str, path: &str, times: u64) -> u64 {
    let proxy = app.redis_proxy.as_ref().expect("a proxied Redis");
    for _ in 0..2 {
        assert_eq!(app.get_as(token, path).await.status(), 200, "{path}");
    }
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        let before = proxy.commands();
        for _ in 0..times {
            assert_eq!(app.get_as(token, path).await.status(), 200, "{path}");
        }
        fewest = fewest.min(proxy.commands() - before);
    }
    fewest
}

async fn one_round_trip_per_cached_read(variant: Variant, env: &[(&str, &str)]) {
    let mut options = Options::with_env(env);
    options.proxy_redis = true;
    let app = TestApp::spawn_with(variant, options).await;
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Hot").await;
    assert_eq!(app.put_file(&token, &id, "src/main.ts", b"export {}".to_vec()).await.status(), 201);
    for path in
        [format!("/api/v2/projects/{id}"), format!("/api/v2/projects/{id}/files"), "/api/v2/projects".to_owned()]
    {
        assert_eq!(commands_per_get(&app, &token, &path, 10).await, 10, "one Redis command per GET {path}");
    }
}

scenario!(a_cached_read_costs_one_redis_round_trip, [postgres_redis], |variant: Variant| {
    one_round_trip_per_cached_read(variant, &[]).await;
});

scenario!(with_limits_off_a_cached_read_still_costs_one_round_trip, [postgres_redis], |variant: Variant| {
    one_round_trip_per_cached_read(variant, &[("RATE_LIMIT_ENABLED", "false")]).await;
});

scenario!(a_refused_read_reads_nothing, [postgres_redis], |variant: Variant| {
    let mut options = Options::with_env(&[("RATE_LIMIT_READS", "3/min")]);
    options.proxy_redis = true;
    let app = TestApp::spawn_with(variant, options).await;
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "Hot").await;
    let path = format!("/api/v2/projects/{id}");
    for _ in 0..3 {
        assert_eq!(app.get_as(&token, &path).await.status(), 200);
    }
    let before = app.redis_proxy.as_ref().unwrap().commands();
    let refused = app.get_as(&token, &path).await;
    assert_problem(refused, 429, "quota-exceeded").await;
    assert_eq!(app.redis_proxy.as_ref().unwrap().commands() - before, 1, "the refusal is the gate's one answer");
});
