//! A job from request to end: what it sends the provider, what it records, how
//! it fails, and every refusal of a bad request.

use std::time::Duration;

use devora_e2e::standins::{HttpFailure, ScriptedReply};
use serde_json::json;

use super::*;

scenario!(
    generation_without_a_provider_answers_not_configured_and_still_reads_jobs,
    [sqlite_memory],
    |app: TestApp| {
        let user = app.new_user().await;
        let project = app.create_project_id(&user.access_token, "P").await;
        let token = &user.access_token;
        for res in [
            app.get_as(token, "/api/v2/generation/models").await,
            app.post_as(token, "/api/v2/generation/agentic", &json!({"project_id": project, "prompt": "hi"})).await,
            app.post_as(
                token,
                "/api/v2/generation/fullstack",
                &json!({"name": "A", "frontend": "react", "backend": "none", "database": "none"}),
            )
            .await,
        ] {
            let body = assert_problem(res, 503, "not-configured").await;
            assert!(body["detail"].as_str().unwrap().contains("LLM_BASE_URL"), "{body}");
        }
        let page = app.get_json_as(token, "/api/v2/generation/jobs").await;
        assert_eq!(page["items"], json!([]));
        assert_eq!(page["next_cursor"], Value::Null);
        let usage = app.get_json_as(token, "/api/v2/generation/usage").await;
        assert_eq!(usage["generations"]["used"], 0);
        assert_eq!(app.get_as(token, "/api/v2/generation/options").await.status(), 200);
    }
);

scenario!(an_agentic_job_runs_to_the_end_and_records_reply_usage_and_conversation, [all], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let reply = "Here is a dark mode toggle for your app.";
    server.llm.script(ScriptedReply::text(reply).usage(120, 30));
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let started = server.start(token, &project, "Add a dark mode toggle").await;
    assert_eq!(started["status"], "queued");
    assert_eq!(started["kind"], "agentic");
    assert_eq!(started["project_id"], project.as_str());
    assert_eq!(started["model"], "gpt-4o-mini");
    let id = started["id"].as_str().unwrap();

    let job = server.wait_for_end(token, id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["output"], reply);
    assert_eq!(job["progress"], 100);
    assert_eq!(job["attempt"], 1);
    assert_eq!(
        job["usage"],
        json!({"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "estimated": false})
    );
    assert!(job.get("error").is_none());
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());

    let requests = server.llm.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["stream"], true);
    assert!(sent["max_tokens"].as_u64().unwrap() > 0);
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages.last().unwrap()["content"], "Add a dark mode toggle");

    let conversation = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/messages")).await;
    let said: Vec<(&str, &str)> = conversation["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [("user", "Add a dark mode toggle"), ("assistant", reply)]);

    let metrics = server.app.client.get(server.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "devora_generation_jobs_created_total",
        "devora_generation_jobs_finished_total",
        "devora_generation_tokens_total",
        "devora_generation_first_token_seconds",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let usage = server.app.get_json_as(token, "/api/v2/generation/usage").await;
    assert_eq!(usage["generations"]["used"], 1);
    assert_eq!(usage["tokens"]["used"], 150);
    assert_eq!(usage["tokens"]["reserved"], 0);
    assert_eq!(usage["concurrent_jobs"]["used"], 0);
});

scenario!(
    provider_failures_fail_the_job_with_their_code_and_retries_recover,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let cases = [
            (
                ScriptedReply::text("ok then").after_failures(1, HttpFailure::TooManyRequests { retry_after: Some(0) }),
                "succeeded",
                None,
            ),
            (ScriptedReply::text("ok again").after_failures(2, HttpFailure::ServerError), "succeeded", None),
            // Cut after the text has arrived (a cut before the first token is retried).
            (ScriptedReply::slow(4, Duration::from_millis(20)).drop_mid_stream(), "failed", Some("stream-broken")),
            (
                ScriptedReply::slow(2, Duration::from_millis(20))
                    .openai_error_mid_stream(json!("server_error"), "overloaded"),
                "failed",
                Some("provider-error"),
            ),
            (
                ScriptedReply::slow(2, Duration::from_millis(20)).vllm_error_mid_stream(json!(400), "bad things"),
                "failed",
                Some("provider-error"),
            ),
            (ScriptedReply::text("no usage here").without_usage(), "succeeded", None),
            // Every try of the call fails (the server makes 3): the reply itself is never sent.
            (
                ScriptedReply::text("never").after_failures(3, HttpFailure::ServerError),
                "failed",
                Some("provider-unavailable"),
            ),
        ];
        for (i, (reply, status, code)) in cases.into_iter().enumerate() {
            let estimated = reply.usage == devora_e2e::standins::Usage::Omitted;
            server.llm.script(reply);
            let id = server.start(token, &project, "go").await["id"].as_str().unwrap().to_owned();
            let job = server.wait_for_end(token, &id).await;
            assert_eq!(job["status"], status, "case {i}: {job}");
            assert_eq!(job["error"]["code"].as_str(), code, "case {i}: {job}");
            if code.is_some() {
                assert!(job["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
            if code.is_none() {
                assert_eq!(job["usage"]["estimated"], estimated, "case {i}: {job}");
            }
        }
        // Nothing is left reserved once every job has ended.
        let usage = server.app.get_json_as(token, "/api/v2/generation/usage").await;
        assert_eq!(usage["tokens"]["reserved"], 0);
    }
);

scenario!(bad_generation_requests_are_refused_with_their_field, [sqlite_memory], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let (user, project) = server.user_with_project().await;
    let other = server.app.new_user().await;
    let token = &user.access_token;
    let app = &server.app;
    let post = async |body: Value| app.post_as(token, "/api/v2/generation/agentic", &body).await;
    let field = |body: &Value| body["errors"][0]["field"].as_str().unwrap().to_owned();
    let body =
        assert_problem(post(json!({"project_id": project, "prompt": "   "})).await, 422, "validation-failed").await;
    assert_eq!(field(&body), "prompt");
    let body = assert_problem(
        post(json!({"project_id": project, "prompt": "x".repeat(20_001)})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(field(&body), "prompt");
    let body = assert_problem(
        post(json!({"project_id": uuid::Uuid::new_v4(), "prompt": "hi"})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(field(&body), "project_id");
    let theirs = server.app.create_project_id(&other.access_token, "Theirs").await;
    let body =
        assert_problem(post(json!({"project_id": theirs, "prompt": "hi"})).await, 422, "validation-failed").await;
    assert_eq!(field(&body), "project_id");
    let body = assert_problem(
        post(json!({"project_id": project, "prompt": "hi", "model": "o3"})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!((field(&body).as_str(), body["errors"][0]["code"].as_str()), ("model", Some("not-allowed")));
    assert_problem(post(json!({"project_id": project, "prompt": "hi", "extra": 1})).await, 422, "validation-failed")
        .await;
    assert_problem(post(json!({"project_id": "nope", "prompt": "hi"})).await, 422, "validation-failed").await;
    let res = server
        .app
        .client
        .post(server.app.url("/api/v2/generation/agentic"))
        .json(&json!({"project_id": project, "prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthenticated").await;
    assert!(server.llm.requests().is_empty(), "no refused request reached the provider");
    assert_eq!(server.app.get_json_as(token, "/api/v2/generation/jobs").await["items"], json!([]));

    // Reads: another user's job and nonsense ids are not found; filters are checked.
    server.llm.script(ScriptedReply::text("done"));
    let id = server.start(token, &project, "hi").await["id"].as_str().unwrap().to_owned();
    server.wait_for_end(token, &id).await;
    assert_problem(
        server.app.get_as(&other.access_token, &format!("/api/v2/generation/jobs/{id}")).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        server.app.post_as(&other.access_token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(server.app.get_as(token, "/api/v2/generation/jobs/not-a-uuid").await, 404, "not-found").await;
    assert_problem(server.app.get_as(token, "/api/v2/generation/jobs?status=bogus").await, 422, "validation-failed")
        .await;
    assert_problem(server.app.get_as(token, "/api/v2/generation/jobs?project_id=x").await, 422, "validation-failed")
        .await;
    assert_problem(server.app.get_as(token, "/api/v2/generation/jobs?limit=0").await, 422, "validation-failed").await;
    assert_eq!(server.app.get_json_as(&other.access_token, "/api/v2/generation/jobs").await["items"], json!([]));
    let mine =
        server.app.get_json_as(token, &format!("/api/v2/generation/jobs?project_id={project}&status=succeeded")).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let none = server.app.get_json_as(token, "/api/v2/generation/jobs?status=running").await;
    assert_eq!(none["items"], json!([]));
    // An ended job's cancel changes nothing.
    let res = server.app.post_as(token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(res.status().as_u16(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "succeeded");
});

scenario!(jobs_page_newest_first_and_the_models_are_the_plans, [sqlite_memory, postgres_memory], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    server.llm.set_models(&[("gpt-4o-mini", Some("openai")), ("o3", Some("openai")), ("test-model", None)]);
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let models = server.app.get_json_as(token, "/api/v2/generation/models").await;
    assert_eq!(
        models["items"],
        json!([{"id": "gpt-4o-mini", "owned_by": "openai", "default": true}, {"id": "test-model", "default": false}])
    );
    server.llm.set_default_reply(ScriptedReply::text("ok"));
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = server.start(token, &project, &format!("job {i}")).await["id"].as_str().unwrap().to_owned();
        server.wait_for_end(token, &id).await;
        ids.push(id);
    }
    let first = server.app.get_json_as(token, "/api/v2/generation/jobs?limit=3").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = server.app.get_json_as(token, &format!("/api/v2/generation/jobs?limit=3&cursor={cursor}")).await;
    let listed: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert_eq!(second["next_cursor"], Value::Null);
});

scenario!(
    a_fullstack_request_creates_its_project_and_generates_it,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        server.llm.script(ScriptedReply::text("Scaffold ready."));
        let user = server.app.new_user().await;
        let token = &user.access_token;
        let options = server.app.get_json_as(token, "/api/v2/generation/options").await;
        assert!(options["frontend"].as_array().unwrap().contains(&json!("react")));
        let res = server
            .app
            .post_as(
                token,
                "/api/v2/generation/fullstack",
                &json!({
                    "name": "Recipe box", "description": "Save recipes", "frontend": "react", "backend": "express",
                    "database": "postgres", "features": ["auth", "file-uploads"]
                }),
            )
            .await;
        assert_eq!(res.status().as_u16(), 202);
        let location = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        let job: Value = res.json().await.unwrap();
        assert_eq!(location, format!("/api/v2/generation/jobs/{}", job["id"].as_str().unwrap()));
        assert_eq!(job["kind"], "fullstack");
        let project = job["project_id"].as_str().unwrap();
        let created = server.app.get_json_as(token, &format!("/api/v2/projects/{project}")).await;
        assert_eq!(created["name"], "Recipe box");
        assert_eq!(created["framework"], "react");
        let done = server.wait_for_end(token, job["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded");
        let prompt = server.llm.requests()[0]["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_owned();
        for part in ["Recipe box", "react", "express", "postgres", "auth, file-uploads", "Save recipes"] {
            assert!(prompt.contains(part), "{part} in {prompt}");
        }

        // Choices off the list are refused by name, and nothing is created.
        let before = server.app.get_json_as(token, "/api/v2/projects").await["items"].as_array().unwrap().len();
        for (body, bad) in [
            (json!({"name": "A", "frontend": "cobol", "backend": "none", "database": "none"}), "frontend"),
            (json!({"name": "A", "frontend": "react", "backend": "php", "database": "none"}), "backend"),
            (json!({"name": "A", "frontend": "react", "backend": "none", "database": "oracle"}), "database"),
            (
                json!({"name": "A", "frontend": "react", "backend": "none", "database": "none", "features": ["auth", "auth"]}),
                "features[1]",
            ),
            (
                json!({"name": "A", "frontend": "react", "backend": "none", "database": "none", "features": ["teleport"]}),
                "features[0]",
            ),
            (json!({"name": " ", "frontend": "react", "backend": "none", "database": "none"}), "name"),
        ] {
            let res = server.app.post_as(token, "/api/v2/generation/fullstack", &body).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert_eq!(problem["errors"][0]["field"], bad, "{problem}");
        }
        assert_eq!(server.app.get_json_as(token, "/api/v2/projects").await["items"].as_array().unwrap().len(), before);
    }
);

scenario!(
    a_fullstack_request_over_the_project_limit_creates_nothing_and_spends_nothing,
    [sqlite_memory],
    |variant: Variant| {
        let mut limits = roomy_limits();
        limits["projects"] = json!(1);
        let server = Gen::spawn_with(variant, &limits, &[("FREE_PLAN_MAX_PROJECTS", "1")], Options::default()).await;
        let (user, _project) = server.user_with_project().await;
        let token = &user.access_token;
        let res = server
            .app
            .post_as(
                token,
                "/api/v2/generation/fullstack",
                &json!({
                    "name": "Second", "frontend": "vue", "backend": "none", "database": "none"
                }),
            )
            .await;
        let body = assert_problem(res, 403, "plan-limit").await;
        assert_eq!((body["limit"].as_u64(), body["current"].as_u64()), (Some(1), Some(1)));
        assert_eq!(body["limit_name"], "projects");
        assert_eq!(server.app.get_json_as(token, "/api/v2/generation/jobs").await["items"], json!([]));
        assert!(server.llm.requests().is_empty());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.llm.streams_started(), 0);
    }
);
