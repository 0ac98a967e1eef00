//! Redis and Postgres stopped and started again while two nodes serve a
//! read/write load, each on an instance of its own.

use std::time::Duration;

use devora_e2e::{Cluster, ClusterOptions, Endpoint, PrivatePostgres, PrivateRedis};

use super::load::{Load, verify};
use super::*;

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// What a node's readiness says of Redis.
async fn redis_status(node: &Endpoint) -> String {
    let body: Value = node.get("/health/ready").await.json().await.unwrap_or(Value::Null);
    body["checks"]["redis"]["status"].as_str().unwrap_or_default().to_owned()
}

// Redis killed (SIGKILL) for 2.5 s and started again, empty, while six clients
// work through two nodes: readiness reports Redis down then up again, no 5xx and
// no transport failure at any time, no read older than a write acknowledged
// before it, and afterwards every acknowledged write is read back on both nodes.
scenario!(redis_stopped_and_restarted_under_load, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let Some(mut redis) = PrivateRedis::start(module_path!()).await else { return };
    let mut options = ClusterOptions::new(2, &[]);
    options.redis_url = Some(redis.url());
    let cluster = Cluster::start(options).await;
    let nodes = cluster.endpoints();
    let load = Load::start(&nodes, 6).await;
    sleep_ms(1500).await;
    redis.stop();
    let outage = tokio::time::Instant::now();
    let mut seen_down = 0;
    while outage.elapsed() < Duration::from_millis(2500) {
        for node in &nodes {
            if redis_status(node).await == "down" {
                seen_down += 1;
            }
        }
        sleep_ms(200).await;
    }
    redis.restart().await;
    let back = tokio::time::Instant::now();
    let mut up = false;
    while !up && back.elapsed() < Duration::from_secs(20) {
        up = true;
        for node in &nodes {
            up &= redis_status(node).await == "up";
        }
        if !up {
            sleep_ms(100).await;
        }
    }
    let recovery = back.elapsed();
    sleep_ms(2000).await;
    let (tally, written) = load.finish().await;
    let (verified, failures) = verify(&nodes, &written).await;
    let extra = format!(" readiness_saw_redis_down={seen_down} redis_up_again_after_ms={}", recovery.as_millis());
    report("redis-restart", &tally, verified, &extra);
    assert!(seen_down > 0, "the nodes never saw Redis down");
    assert!(up, "the nodes did not see Redis back");
    assert_eq!(tally.five_xx(), 0, "no 5xx while Redis was away: {tally:?}");
    assert_eq!((tally.refused, tally.closed, tally.cut, tally.hung, tally.client_errors), (0, 0, 0, 0, 0), "{tally:?}");
    assert_eq!((tally.stale, tally.missing), (0, 0), "no read from before an acknowledged write: {tally:?}");
    assert!(failures.is_empty(), "acknowledged writes not read back: {failures:#?}");
    assert_eq!(verified, tally.writes_acked);
    assert!(tally.writes_acked > 0);
});

// Postgres (a private instance) shut down for 3 s and started again under the
// same load on two nodes: while it is down each node's readiness answers 503;
// writes then fail (503, counted) but nothing else does, no node is restarted,
// readiness is 200 again once Postgres is back, and every acknowledged write is
// read back on both nodes.
scenario!(postgres_restarted_under_load, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let Some(mut postgres) = PrivatePostgres::start(module_path!()).await else { return };
    let mut options = ClusterOptions::new(2, &[("DATABASE_CONNECT_TIMEOUT_SECS", "1")]);
    options.database_url = Some(postgres.url());
    let cluster = Cluster::start(options).await;
    let nodes = cluster.endpoints();
    for node in &nodes {
        assert_eq!(node.readiness().await, Some(200));
    }
    let load = Load::start(&nodes, 6).await;
    sleep_ms(1500).await;
    postgres.stop();
    let mut down_checks = Vec::new();
    let mut slowest_check = Duration::ZERO;
    let outage = tokio::time::Instant::now();
    while outage.elapsed() < Duration::from_secs(3) {
        for node in &nodes {
            let asked = tokio::time::Instant::now();
            down_checks.push(node.readiness().await);
            slowest_check = slowest_check.max(asked.elapsed());
        }
        sleep_ms(200).await;
    }
    postgres.restart().await;
    let back = tokio::time::Instant::now();
    let mut ready = false;
    while !ready && back.elapsed() < Duration::from_secs(30) {
        ready = true;
        for node in &nodes {
            ready &= node.readiness().await == Some(200);
        }
        if !ready {
            sleep_ms(100).await;
        }
    }
    let recovery = back.elapsed();
    sleep_ms(2000).await;
    let (tally, written) = load.finish().await;
    let (verified, failures) = verify(&nodes, &written).await;
    let extra = format!(
        " readiness_while_down={down_checks:?} slowest_readiness_while_down_ms={} ready_again_after_ms={}",
        slowest_check.as_millis(),
        recovery.as_millis()
    );
    report("postgres-restart", &tally, verified, &extra);
    assert!(!down_checks.is_empty() && down_checks.iter().all(|s| *s == Some(503)), "{down_checks:?}");
    assert!(ready, "readiness did not come back without restarting the nodes");
    assert_eq!(tally.server_errors, 0, "only 503 while the database is away: {tally:?}");
    assert!(tally.unavailable > 0, "the outage was seen: {tally:?}");
    assert_eq!((tally.refused, tally.closed, tally.cut, tally.hung, tally.client_errors), (0, 0, 0, 0, 0), "{tally:?}");
    assert_eq!((tally.stale, tally.missing), (0, 0), "no read from before an acknowledged write: {tally:?}");
    assert!(failures.is_empty(), "acknowledged writes lost: {failures:#?}");
    assert_eq!(verified, tally.writes_acked);
});
