//! Real server processes on one Postgres: a node killed mid-job (its job is
//! finished by another once the lease expires) and a node told to stop (its job
//! goes back to the queue at once).

use std::time::Duration;

use devora_e2e::ServerProcess;
use devora_e2e::standins::{LlmStandIn, ScriptedReply};
use serde_json::json;

use super::*;

/// A front node that runs no jobs (it owns the database), and the environment
/// for worker processes of the same deployment.
async fn deployment(
    variant: Variant,
    llm: &LlmStandIn,
    plans: &str,
) -> (TestApp, std::collections::HashMap<String, String>) {
    let env = generation_env(llm, plans, &[("GENERATION_WORKERS", "0"), ("GENERATION_LEASE_MS", "1500")]);
    let front = TestApp::spawn_with(variant, Options { env, ..Options::default() }).await;
    let mut worker = front.node_env();
    worker.insert("GENERATION_WORKERS".into(), "1".into());
    worker.insert("SHUTDOWN_TIMEOUT_SECS".into(), "5".into());
    (front, worker)
}

async fn start_job(front: &TestApp) -> (SignedIn, String) {
    let user = front.new_user().await;
    let project = front.create_project_id(&user.access_token, "P").await;
    let res = front
        .post_as(&user.access_token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "go"}))
        .await;
    assert_eq!(res.status().as_u16(), 202);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    (user, id)
}

scenario!(
    a_job_of_a_killed_node_is_finished_by_another_after_its_lease_expires,
    [postgres_memory, postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
        llm.set_default_reply(ScriptedReply::text("finished elsewhere"));
        let (_dir, plans) = plans_file(&roomy_limits());
        let (front, worker_env) = deployment(variant, &llm, &plans).await;
        let mut doomed = ServerProcess::start(&worker_env).await;
        let (user, id) = start_job(&front).await;
        let token = &user.access_token;
        wait_until(&front, token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(5)).await;

        doomed.signal("KILL");
        doomed.wait(Duration::from_secs(5)).await;
        // Nobody works on it now; it stays `running` only until its lease (1.5 s) expires.
        let mut env = worker_env.clone();
        env.insert("GENERATION_WORKERS".into(), "1".into());
        let rescuer = ServerProcess::start(&env).await;
        let job = wait_until(&front, token, &id, ended).await;
        assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("succeeded"), Some(2)), "{job}");
        assert_eq!(job["output"], "finished elsewhere");
        let events = SseReader::new(open_events(&front, token, &id, None).await).rest().await;
        assert_contiguous(&events, 1);
        let statuses: Vec<(String, u64)> = events
            .iter()
            .filter(|e| e.data["type"] == "status")
            .map(|e| (e.data["status"].as_str().unwrap().to_owned(), e.data["attempt"].as_u64().unwrap()))
            .collect();
        let expected = [("queued", 0), ("running", 1), ("queued", 1), ("running", 2)];
        assert_eq!(statuses, expected.map(|(s, a)| (s.to_owned(), a)));
        drop(rescuer);
    }
);

scenario!(
    sigterm_releases_a_running_job_to_the_queue_and_the_node_exits_cleanly,
    [postgres_memory, postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
        llm.set_default_reply(ScriptedReply::text("done after the restart"));
        let (_dir, plans) = plans_file(&roomy_limits());
        let (front, worker_env) = deployment(variant, &llm, &plans).await;
        let mut stopping = ServerProcess::start(&worker_env).await;
        let (user, id) = start_job(&front).await;
        let token = &user.access_token;
        wait_until(&front, token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(5)).await;

        stopping.signal("TERM");
        let status = stopping.wait(Duration::from_secs(8)).await;
        assert!(status.success(), "a clean exit: {status:?}");
        assert!(llm.wait_for_abandoned(1, Duration::from_secs(1)).await, "its provider call was closed");
        let job = front.get_json_as(token, &format!("/api/v2/generation/jobs/{id}")).await;
        assert_eq!(
            (job["status"].as_str(), job["attempt"].as_u64()),
            (Some("queued"), Some(0)),
            "released, its attempt not counted: {job}"
        );

        let next = ServerProcess::start(&worker_env).await;
        let job = wait_until(&front, token, &id, ended).await;
        assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("succeeded"), Some(1)), "{job}");
        assert_eq!(job["output"], "done after the restart");
        drop(next);
    }
);

scenario!(
    two_server_processes_on_one_database_claim_each_job_exactly_once,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        llm.set_default_reply(ScriptedReply::slow(4, Duration::from_millis(20)));
        let (_dir, plans) = plans_file(&roomy_limits());
        let (front, mut worker_env) = deployment(variant, &llm, &plans).await;
        worker_env.insert("GENERATION_WORKERS".into(), "3".into());
        let first = ServerProcess::start(&worker_env).await;
        let second = ServerProcess::start(&worker_env).await;
        let user = front.new_user().await;
        let token = &user.access_token;
        let mut jobs = Vec::new();
        for i in 0..12 {
            let project = front.create_project_id(token, &format!("P{i}")).await;
            let res = front
                .post_as(
                    token,
                    "/api/v2/generation/agentic",
                    &json!({"project_id": project, "prompt": format!("job {i}")}),
                )
                .await;
            jobs.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        }
        for id in &jobs {
            let job = wait_until(&front, token, id, ended).await;
            assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("succeeded"), Some(1)), "{job}");
        }
        let mut prompts: Vec<String> = llm
            .requests()
            .iter()
            .map(|r| r["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned())
            .collect();
        prompts.sort();
        let expected: Vec<String> = {
            let mut e: Vec<String> = (0..12).map(|i| format!("job {i}")).collect();
            e.sort();
            e
        };
        assert_eq!(prompts, expected, "each job reached the provider exactly once");
        drop((first, second));
    }
);

scenario!(
    a_job_that_changed_files_is_not_run_again_over_them_when_its_node_stops,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        let mut deltas = vec!["<devora-write path=\"first.txt\">\ndone\n</devora-write>\n".to_owned()];
        deltas.extend((0..400).map(|i| format!("word{i} ")));
        llm.script(ScriptedReply::deltas(deltas).delay_between_chunks(Duration::from_millis(50)));
        llm.set_default_reply(ScriptedReply::text("must not run again"));
        let (_dir, plans) = plans_file(&roomy_limits());
        let (front, worker_env) = deployment(variant, &llm, &plans).await;
        let mut stopping = ServerProcess::start(&worker_env).await;
        let (user, id) = start_job(&front).await;
        let token = &user.access_token;
        wait_until(&front, token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(10)).await;
        stopping.signal("TERM");
        assert!(stopping.wait(Duration::from_secs(8)).await.success());
        let job = wait_until(&front, token, &id, ended).await;
        assert_eq!(
            (job["status"].as_str(), job["error"]["code"].as_str()),
            (Some("failed"), Some("interrupted")),
            "{job}"
        );
        let revision = job["revision"].as_u64().expect("its changes are a revision");
        let project = job["project_id"].as_str().unwrap();
        let changes = front.get_json_as(token, &format!("/api/v2/projects/{project}/revisions/{revision}")).await;
        assert_eq!(changes["changes"][0]["path"], "first.txt");
        assert_eq!(llm.requests().len(), 1, "not run again");
    }
);

scenario!(operators_list_and_cancel_jobs_from_the_command_line, [postgres_redis], threads = 4, |variant: Variant| {
    let llm = LlmStandIn::start().await;
    llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let (_dir, plans) = plans_file(&roomy_limits());
    let (front, worker_env) = deployment(variant, &llm, &plans).await;
    let _worker = ServerProcess::start(&worker_env).await;
    let (user, id) = start_job(&front).await;
    wait_until(&front, &user.access_token, &id, |j| j["status"] == "running").await;
    let command = |args: &[&str]| {
        std::process::Command::new(devora_e2e::server_binary())
            .env_clear()
            .envs(front.node_env())
            .env("RUST_LOG", "error")
            .args(args)
            .output()
            .unwrap()
    };
    let listed = command(&["jobs", "list", "--status", "running"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let lines: Vec<Value> =
        String::from_utf8(listed.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|j| j["id"] == id.as_str() && j["status"] == "running"), "{lines:?}");
    let cancelled = command(&["jobs", "cancel", &id]);
    assert!(cancelled.status.success(), "{}", String::from_utf8_lossy(&cancelled.stderr));
    assert!(llm.wait_for_abandoned(1, Duration::from_secs(2)).await, "the running node stopped the provider call");
    let job = wait_until(&front, &user.access_token, &id, ended).await;
    assert_eq!(job["status"], "cancelled");
    let missing = command(&["jobs", "cancel", &uuid::Uuid::now_v7().to_string()]);
    assert!(!missing.status.success());
    let bad = command(&["jobs", "list", "--status", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
});
