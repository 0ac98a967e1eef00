//! Several nodes on one Postgres (and one Redis): each job claimed once, a
//! cancel and a watcher on a node other than the one running the job.

use std::time::Duration;

use devora_e2e::standins::{LlmStandIn, ScriptedReply};
use serde_json::json;

use super::*;

/// A node of a deployment sharing `database_url` and the Redis prefix of `first`.
async fn node(variant: Variant, llm: &LlmStandIn, plans: &str, first: Option<&TestApp>, workers: &str) -> TestApp {
    let mut options =
        Options { env: generation_env(llm, plans, &[("GENERATION_WORKERS", workers)]), ..Options::default() };
    if let Some(first) = first {
        options.database_url = first.database_url.clone();
        options.redis_prefix = first.env_value("REDIS_KEY_PREFIX");
    }
    TestApp::spawn_with(variant, options).await
}

scenario!(
    two_nodes_on_one_database_claim_each_job_exactly_once,
    [postgres_memory, postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        llm.set_default_reply(ScriptedReply::slow(5, Duration::from_millis(20)));
        let (_dir, plans) = plans_file(&roomy_limits());
        let a = node(variant, &llm, &plans, None, "3").await;
        let b = node(variant, &llm, &plans, Some(&a), "3").await;
        let user = a.new_user().await;
        let token = &user.access_token;
        let mut jobs = Vec::new();
        for i in 0..12 {
            let app = if i % 2 == 0 { &a } else { &b };
            let project = app.create_project_id(token, &format!("P{i}")).await;
            let res = app
                .post_as(
                    token,
                    "/api/v2/generation/agentic",
                    &json!({"project_id": project, "prompt": format!("job {i}")}),
                )
                .await;
            assert_eq!(res.status().as_u16(), 202);
            jobs.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        }
        for id in &jobs {
            let job = wait_until(&a, token, id, ended).await;
            assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("succeeded"), Some(1)), "{job}");
        }
        let prompts: Vec<String> = llm
            .requests()
            .iter()
            .map(|r| r["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(prompts.len(), 12, "each job called the provider once: {prompts:?}");
        let mut unique = prompts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 12);
    }
);

scenario!(
    a_job_running_on_one_node_is_watched_and_cancelled_through_another,
    [postgres_memory, postgres_redis],
    threads = 4,
    |variant: Variant| {
        let llm = LlmStandIn::start().await;
        llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
        let (_dir, plans) = plans_file(&roomy_limits());
        let worker = node(variant, &llm, &plans, None, "2").await;
        let front = node(variant, &llm, &plans, Some(&worker), "0").await; // runs no jobs
        let user = front.new_user().await;
        let token = &user.access_token;
        let project = front.create_project_id(token, "P").await;
        let res = front
            .post_as(token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "elsewhere"}))
            .await;
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let mut reader = SseReader::new(open_events(&front, token, &id, None).await);
        let mut seen = Vec::new();
        while seen.iter().filter(|e: &&SseEvent| e.data["type"] == "delta").count() < 2 {
            seen.push(reader.next().await.expect("live events from the other node"));
        }
        let res = front.post_as(token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 202);
        assert!(
            llm.wait_for_abandoned(1, Duration::from_secs(1)).await,
            "the other node stopped the provider call within a second"
        );
        seen.extend(reader.rest().await);
        assert_contiguous(&seen, 1);
        assert_eq!(seen.last().unwrap().data["status"], "cancelled");
    }
);
