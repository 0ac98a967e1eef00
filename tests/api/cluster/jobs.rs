//! Jobs across processes: each node has its own LLM stand-in, so the stand-in
//! that gets the call names the node running the job.

use std::time::Duration;

use devora_e2e::standins::{LlmStandIn, ScriptedReply};
use devora_e2e::{Cluster, ClusterOptions, Endpoint, owned};
use serde_json::json;

use super::*;
use crate::generation::{SseEvent, SseReader, assert_contiguous, plans_file, roomy_limits, text_of};

/// Three nodes, each running jobs (one worker) against its own stand-in, every
/// stand-in answering `reply` first; the stand-ins in node order.
async fn cluster_with_stand_ins(reply: &ScriptedReply, plans: &str) -> (Cluster, Vec<LlmStandIn>) {
    let mut stand_ins = Vec::new();
    for _ in 0..3 {
        let llm = LlmStandIn::start().await;
        llm.script(reply.clone());
        llm.set_default_reply(ScriptedReply::text("a later attempt"));
        stand_ins.push(llm);
    }
    let env = [
        ("LLM_MODEL", "gpt-4o-mini"),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "10"),
        ("GENERATION_WORKERS", "1"),
        ("GENERATION_POLL_MS", "100"),
        ("GENERATION_LEASE_MS", "1500"),
        ("BILLING_PLANS_FILE", plans),
    ];
    let mut options = ClusterOptions::new(3, &env);
    options.per_node = stand_ins.iter().map(|llm| owned(&[("LLM_BASE_URL", llm.url.as_str())])).collect();
    (Cluster::start(options).await, stand_ins)
}

/// Starts an agentic job through `node`; its id.
async fn start_job(node: &Endpoint, token: &str, project: &str) -> String {
    let res =
        node.post_as(token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "build it"})).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// The node whose stand-in got a call (within 30 s).
async fn running_node(stand_ins: &[LlmStandIn]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(i) = stand_ins.iter().position(|llm| llm.streams_started() > 0) {
            return i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no node took the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses(events: &[SseEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| e.data["type"] == "status")
        .map(|e| (e.data["status"].as_str().unwrap().to_owned(), e.data["attempt"].as_u64().unwrap()))
        .collect()
}

// SIGKILL to the node streaming a job's reply: nobody works on it until its
// lease (1.5 s) expires, then exactly one of the two other nodes takes it (a
// second attempt), finishes it, and its events read from a surviving node tell
// the whole story without a gap. (`generation::processes` kills a lone worker
// process and starts a rescuer after; here the rescuers were running all along.)
scenario!(a_job_of_a_killed_node_is_finished_by_another, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let (_dir, plans) = plans_file(&roomy_limits());
    let reply = ScriptedReply::slow(80, Duration::from_millis(40));
    let (mut cluster, stand_ins) = cluster_with_stand_ins(&reply, &plans).await;
    let nodes = cluster.endpoints();
    let user = nodes[0].new_user().await;
    let token = &user.access_token;
    let project = nodes[0].create_project_id(token, "Killed").await;
    let id = start_job(&nodes[0], token, &project).await;
    let doomed = running_node(&stand_ins).await;
    let survivor = &nodes[(doomed + 1) % 3];
    wait_job(survivor, token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(5)).await;

    let killed_at = tokio::time::Instant::now();
    cluster.nodes[doomed].signal("KILL");
    cluster.nodes[doomed].wait(Duration::from_secs(10)).await;
    let job =
        wait_job(survivor, token, &id, |j| matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled")))
            .await;
    let calls: Vec<usize> = stand_ins.iter().map(|llm| llm.requests().len()).collect();
    say(&format!(
        "fault node-killed-mid-job: killed=node{doomed} provider_calls_per_node={calls:?} status={} attempt={} \
         finished_after_kill_ms={} (lease 1500 ms, reply ~3200 ms)",
        job["status"],
        job["attempt"],
        killed_at.elapsed().as_millis()
    ));
    assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("succeeded"), Some(2)), "{job}");
    assert_eq!(calls[doomed], 1, "the killed node called its provider once: {calls:?}");
    assert_eq!(calls.iter().sum::<usize>(), 2, "exactly one other node took the job over: {calls:?}");
    assert_eq!(job["output"].as_str(), Some(reply.full_text().as_str()), "the rescuer's whole reply");

    let events = SseReader::new(open_events(survivor, token, &id).await).rest().await;
    assert_contiguous(&events, 1);
    let expected = [("queued", 0), ("running", 1), ("queued", 1), ("running", 2)];
    assert_eq!(statuses(&events)[..4], expected.map(|(s, a)| (s.to_owned(), a)));
    assert_eq!(events.last().unwrap().data["status"], "succeeded");
});

// The job's stream opened on all three nodes as soon as the job is queued:
// the two nodes not running it relay every event, live (a delta arrives while the
// provider is still streaming), in order and without a gap, up to the end.
scenario!(a_jobs_events_are_watched_on_the_nodes_not_running_it, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let (_dir, plans) = plans_file(&roomy_limits());
    let reply = ScriptedReply::slow(80, Duration::from_millis(50));
    let (cluster, stand_ins) = cluster_with_stand_ins(&reply, &plans).await;
    let nodes = cluster.endpoints();
    let user = nodes[0].new_user().await;
    let token = &user.access_token;
    let project = nodes[0].create_project_id(token, "Watched").await;
    let id = start_job(&nodes[0], token, &project).await;
    let mut readers = Vec::new();
    for node in &nodes {
        readers.push(SseReader::new(open_events(node, token, &id).await));
    }
    let runner = running_node(&stand_ins).await;
    let mut seen: Vec<Vec<SseEvent>> = vec![Vec::new(); 3];
    for (i, reader) in readers.iter_mut().enumerate() {
        while !seen[i].iter().any(|e| e.data["type"] == "delta") {
            seen[i].push(reader.next().await.unwrap_or_else(|| panic!("node {i}'s stream ended early")));
        }
        assert_eq!(stand_ins[runner].streams_completed(), 0, "node {i} relayed its first delta only after the reply");
    }
    for (i, reader) in readers.iter_mut().enumerate() {
        seen[i].extend(reader.rest().await);
    }
    let counts: Vec<usize> = seen.iter().map(Vec::len).collect();
    say(&format!("cluster watch-elsewhere: runner=node{runner} events_per_node={counts:?}"));
    let job = wait_job(&nodes[runner], token, &id, |j| j["status"] == "succeeded").await;
    for (i, events) in seen.iter().enumerate() {
        assert_contiguous(events, 1);
        assert_eq!(text_of(events), reply.full_text(), "node {i} relayed every delta");
        assert_eq!(events.last().unwrap().data["status"], "succeeded", "node {i}");
        assert_eq!(statuses(events)[..2], [("queued".to_owned(), 0), ("running".to_owned(), 1)], "node {i}");
    }
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[1], counts[2]);
    assert_eq!(job["output"].as_str(), Some(reply.full_text().as_str()));
    let calls: Vec<usize> = stand_ins.iter().map(|llm| llm.requests().len()).collect();
    assert_eq!(calls.iter().sum::<usize>(), 1, "one node ran the job: {calls:?}");
});
