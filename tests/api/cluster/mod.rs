//! Many nodes: three real `devora-server` processes on one Postgres database and
//! one Redis key prefix, sharing a JWT secret, each addressed directly by the
//! client (no load balancer): global rate limits exact, no stale read after a
//! write on another node, a webhook delivered to all three taking effect once, a
//! job of a killed node finished by another, a job's events watched on nodes
//! other than the one running it.
//!
//! Related tests elsewhere: `rate_limit::three_nodes_sharing_redis_accept_exactly_the_quota`
//! (in-process nodes, the public policy), `generation::nodes` (in-process nodes
//! claiming jobs once, a cancel through another node) and `generation::processes`
//! (a worker process killed or stopped, a front node watching). `just cluster`
//! starts such a deployment by hand.

mod consistency;
mod jobs;
mod webhooks;

use std::time::Duration;

use devora_e2e::Endpoint;

use super::*;

/// Writes one line on the process's stderr, past libtest's capture (shown on a passing run).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Polls a job through `node` until `done` holds (within 30 s) and returns it.
pub async fn wait_job(node: &Endpoint, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let job = node.get_json_as(token, &format!("/api/v2/generation/jobs/{id}")).await;
        if done(&job) {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job never reached the state: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens a job's event stream on `node`, from the start.
pub async fn open_events(node: &Endpoint, token: &str, job: &str) -> reqwest::Response {
    let res = node.get_as(token, &format!("/api/v2/generation/jobs/{job}/events")).await;
    assert_eq!(res.status(), 200, "events on {}", node.address);
    res
}
