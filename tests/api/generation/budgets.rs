//! Budgets that cap spend: the plan's generations, tokens and concurrent jobs
//! refused when a job is queued, tokens reserved per call so a job stops when
//! the month runs out, and the hard caps every job has.

use std::time::Duration;

use devora_e2e::standins::ScriptedReply;
use serde_json::json;

use super::*;

fn limits(generations: u64, tokens: u64, concurrent: u64) -> Value {
    let mut limits = roomy_limits();
    limits["generations_per_month"] = json!(generations);
    limits["tokens_per_month"] = json!(tokens);
    limits["concurrent_jobs"] = json!(concurrent);
    limits
}

async fn refused(server: &Gen, token: &str, project: &str) -> Value {
    let res = server
        .app
        .post_as(token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "more"}))
        .await;
    assert_problem(res, 403, "plan-limit").await
}

scenario!(
    the_months_generations_and_tokens_are_refused_when_used_up,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn_with(variant, &limits(2, 1_000_000, 5), &[], Options::default()).await;
        server.llm.set_default_reply(ScriptedReply::text("ok").usage(10, 5));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        for _ in 0..2 {
            let id = server.start(token, &project, "go").await["id"].as_str().unwrap().to_owned();
            server.wait_for_end(token, &id).await;
        }
        let body = refused(&server, token, &project).await;
        assert_eq!(body["limit_name"], "generations");
        assert_eq!(
            (body["limit"].as_u64(), body["used"].as_u64(), body["current"].as_u64()),
            (Some(2), Some(2), Some(2))
        );
        let resets_at = chrono::DateTime::parse_from_rfc3339(body["resets_at"].as_str().unwrap()).unwrap();
        let usage = server.app.get_json_as(token, "/api/v2/generation/usage").await;
        assert_eq!(
            usage["resets_at"].as_str().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap()),
            Some(resets_at)
        );
        assert_eq!(chrono::Datelike::day(&resets_at), 1);
        assert_eq!((usage["generations"]["used"].as_u64(), usage["generations"]["limit"].as_u64()), (Some(2), Some(2)));
        assert_eq!(server.llm.requests().len(), 2, "the refused job reached nobody");

        // Tokens: a month of 1000 with 1100 used refuses the next job.
        let server = Gen::spawn_with(variant, &limits(100, 1000, 5), &[], Options::default()).await;
        server.llm.set_default_reply(ScriptedReply::text("big").usage(600, 500));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let id = server.start(token, &project, "go").await["id"].as_str().unwrap().to_owned();
        assert_eq!(server.wait_for_end(token, &id).await["status"], "succeeded");
        let body = refused(&server, token, &project).await;
        assert_eq!(
            (body["limit_name"].as_str(), body["limit"].as_u64(), body["used"].as_u64()),
            (Some("tokens"), Some(1000), Some(1100))
        );
    }
);

scenario!(
    concurrent_jobs_beyond_the_plan_are_refused_until_one_ends,
    [sqlite_memory, postgres_memory],
    |variant: Variant| {
        let server = Gen::spawn_with(variant, &limits(100, 1_000_000, 1), &[], Options::default()).await;
        server.llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let id = server.start(token, &project, "long").await["id"].as_str().unwrap().to_owned();
        let body = refused(&server, token, &project).await;
        assert_eq!(
            (body["limit_name"].as_str(), body["limit"].as_u64(), body["used"].as_u64()),
            (Some("concurrent_jobs"), Some(1), Some(1))
        );
        assert!(body.get("resets_at").is_none(), "concurrency frees up as jobs end, not at a reset");
        // The slow reply is this job's: stop it once it streams.
        server.wait_until(token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(5)).await;
        server.app.post_as(token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await;
        server.wait_for_end(token, &id).await;
        server.llm.script(ScriptedReply::text("next"));
        let next = server.start(token, &project, "next").await["id"].as_str().unwrap().to_owned();
        assert_eq!(server.wait_for_end(token, &next).await["status"], "succeeded");
    }
);

scenario!(
    a_job_whose_budget_runs_out_stops_with_budget_exhausted,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn_with(variant, &limits(100, 2000, 5), &[], Options::default()).await;
        // The first call uses most of the month and is cut off: the continuation finds too little left.
        server.llm.script(ScriptedReply::text("part one of a long answer").finish_reason("length").usage(50, 1700));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let id = server.start(token, &project, "go").await["id"].as_str().unwrap().to_owned();
        let job = server.wait_for_end(token, &id).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "budget-exhausted");
        assert_eq!(job["output"], "part one of a long answer", "what was produced stays");
        assert_eq!(server.llm.requests().len(), 1, "no call the month cannot pay for");
        let first = &server.llm.requests()[0];
        assert!(first["max_tokens"].as_u64().unwrap() < 2000, "the call asks for no more than the month has: {first}");
        let usage = server.app.get_json_as(token, "/api/v2/generation/usage").await;
        assert_eq!((usage["tokens"]["used"].as_u64(), usage["tokens"]["reserved"].as_u64()), (Some(1750), Some(0)));
    }
);

scenario!(every_job_stops_at_the_servers_caps_on_rounds_and_time, [sqlite_memory], |variant: Variant| {
    let env = [("GENERATION_MAX_ROUNDS", "2"), ("GENERATION_MAX_DURATION_SECS", "1")];
    let server = Gen::spawn_with(variant, &roomy_limits(), &env, Options::default()).await;
    server.llm.script(ScriptedReply::text("first half ").finish_reason("length"));
    server.llm.script(ScriptedReply::text("second half").finish_reason("length"));
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let id = server.start(token, &project, "go").await["id"].as_str().unwrap().to_owned();
    let job = server.wait_for_end(token, &id).await;
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("output-limit")),
        "{job}"
    );
    assert_eq!(job["output"], "first half second half");
    let requests = server.llm.requests();
    assert_eq!(requests.len(), 2);
    let continued = requests[1]["messages"].as_array().unwrap();
    assert_eq!(continued[continued.len() - 2]["role"], "assistant");
    assert_eq!(continued[continued.len() - 2]["content"], "first half ");
    assert!(continued.last().unwrap()["content"].as_str().unwrap().contains("Continue exactly where you stopped"));

    server.llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let id = server.start(token, &project, "slow").await["id"].as_str().unwrap().to_owned();
    let job = server.wait_for_end(token, &id).await;
    assert_eq!((job["status"].as_str(), job["error"]["code"].as_str()), (Some("failed"), Some("time-limit")), "{job}");
    assert!(server.llm.wait_for_abandoned(1, Duration::from_secs(1)).await);
});
