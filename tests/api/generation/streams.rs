//! Watching a job: Server-Sent Events in order, resumed after a disconnect with
//! nothing lost or repeated, tickets for browsers, WebSocket with cancel, and a
//! cancel that ends the provider call within a second.

use std::time::Duration;

use devora_e2e::standins::ScriptedReply;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::*;

scenario!(a_jobs_events_arrive_in_order_and_the_stream_ends_with_it, [all], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    server.llm.script(ScriptedReply::slow(12, Duration::from_millis(30)).usage(40, 12));
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let id = server.start(token, &project, "stream it").await["id"].as_str().unwrap().to_owned();
    let res = open_events(&server.app, token, &id, None).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "text/event-stream");
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let mut reader = SseReader::new(res);
    let events = reader.rest().await;
    assert_eq!(reader.retry, Some(2000), "a retry hint comes first");
    assert_contiguous(&events, 1);
    let first = &events[0].data;
    assert_eq!((first["type"].as_str(), first["status"].as_str()), (Some("status"), Some("queued")));
    assert!(events.iter().any(|e| e.data["type"] == "status" && e.data["status"] == "running"));
    assert!(events.iter().any(|e| e.data["type"] == "progress"));
    let usage = events.iter().rev().find(|e| e.data["type"] == "usage").expect("a usage event");
    assert_eq!(usage.data["usage"]["total_tokens"], 52);
    let last = &events.last().unwrap().data;
    assert_eq!((last["type"].as_str(), last["status"].as_str()), (Some("end"), Some("succeeded")));
    let job = server.job(token, &id).await;
    assert_eq!(text_of(&events), job["output"].as_str().unwrap());
    assert_eq!(events.iter().filter(|e| e.data["type"] == "end").count(), 1);
    // Deltas are coalesced: fewer events than the provider's chunks.
    assert!(events.iter().filter(|e| e.data["type"] == "delta").count() < 12);

    // An ended job's stream replays its whole log and closes.
    let replay = SseReader::new(open_events(&server.app, token, &id, None).await).rest().await;
    assert_eq!(replay.len(), events.len());
    let after_end = SseReader::new(open_events(&server.app, token, &id, Some(events.len() as u64)).await).rest().await;
    assert!(after_end.is_empty());
});

scenario!(
    a_stream_resumed_with_last_event_id_loses_and_repeats_nothing,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        server.llm.script(ScriptedReply::slow(40, Duration::from_millis(25)));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let id = server.start(token, &project, "long one").await["id"].as_str().unwrap().to_owned();

        let mut first = SseReader::new(open_events(&server.app, token, &id, None).await);
        let mut seen = Vec::new();
        while seen.iter().filter(|e: &&SseEvent| e.data["type"] == "delta").count() < 3 {
            seen.push(first.next().await.expect("events before the end"));
        }
        drop(first); // the tab reloads mid-job
        let job = server.job(token, &id).await;
        assert_eq!(job["status"], "running", "the job goes on without its watcher");

        let last = seen.last().unwrap().id.unwrap();
        let rest = SseReader::new(open_events(&server.app, token, &id, Some(last)).await).rest().await;
        assert_eq!(rest[0].id, Some(last + 1));
        seen.extend(rest);
        assert_contiguous(&seen, 1);
        assert_eq!(seen.last().unwrap().data["type"], "end");
        let job = server.job(token, &id).await;
        assert_eq!(text_of(&seen), job["output"].as_str().unwrap());

        // ?last_event_id= works too (for clients that cannot set the header); a bad one is refused.
        let url = server.app.url(&format!("/api/v2/generation/jobs/{id}/events?last_event_id={}", last));
        let res = server.app.client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(SseReader::new(res).rest().await[0].id, Some(last + 1));
        let res = open_events_with(&server.app, token, &id, "nope").await;
        assert_problem(res, 422, "validation-failed").await;
    }
);

async fn open_events_with(app: &TestApp, token: &str, job: &str, last_event_id: &str) -> reqwest::Response {
    let url = app.url(&format!("/api/v2/generation/jobs/{job}/events"));
    app.client.get(url).bearer_auth(token).header("last-event-id", last_event_id).send().await.unwrap()
}

scenario!(
    a_stream_ticket_opens_one_stream_once_and_nothing_else_does,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        server.llm.set_default_reply(ScriptedReply::text("done"));
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        let id = server.start(token, &project, "one").await["id"].as_str().unwrap().to_owned();
        let other = server.start(token, &project, "two").await["id"].as_str().unwrap().to_owned();
        server.wait_for_end(token, &id).await;

        let res = server.app.post_as(token, &format!("/api/v2/generation/jobs/{id}/ticket"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 201);
        let ticket: Value = res.json().await.unwrap();
        let events_url = ticket["events_url"].as_str().unwrap().to_owned();
        assert!(events_url.starts_with(&format!("/api/v2/generation/jobs/{id}/events?ticket=gt_")));
        assert!(ticket["ws_url"].as_str().unwrap().contains("/ws?ticket="));
        let get = |path: String| server.app.client.get(server.app.url(&path)).send();

        let events = SseReader::new(get(events_url.clone()).await.unwrap()).rest().await;
        assert_eq!(events.last().unwrap().data["type"], "end");
        assert_problem(get(events_url).await.unwrap(), 401, "ticket-invalid").await; // spent

        let ticket: Value = server
            .app
            .post_as(token, &format!("/api/v2/generation/jobs/{id}/ticket"), &json!({}))
            .await
            .json()
            .await
            .unwrap();
        let wrong_job = format!("/api/v2/generation/jobs/{other}/events?ticket={}", ticket["ticket"].as_str().unwrap());
        assert_problem(get(wrong_job).await.unwrap(), 401, "ticket-invalid").await;
        assert_problem(
            get(format!("/api/v2/generation/jobs/{id}/events?ticket=gt_forged")).await.unwrap(),
            401,
            "ticket-invalid",
        )
        .await;
        assert_problem(get(format!("/api/v2/generation/jobs/{id}/events")).await.unwrap(), 401, "unauthenticated")
            .await;
        let stranger = server.app.new_user().await;
        assert_problem(open_events(&server.app, &stranger.access_token, &id, None).await, 404, "not-found").await;
        let res = server
            .app
            .post_as(&stranger.access_token, &format!("/api/v2/generation/jobs/{id}/ticket"), &json!({}))
            .await;
        assert_problem(res, 404, "not-found").await;
    }
);

scenario!(cancelling_a_running_job_ends_the_provider_call_within_a_second, [all], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    server.llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let id = server.start(token, &project, "forever").await["id"].as_str().unwrap().to_owned();
    server.wait_until(token, &id, |j| j["status"] == "running" && j["progress"].as_u64() > Some(5)).await;

    let res = server.app.post_as(token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!(res.status().as_u16(), 202);
    let asked = tokio::time::Instant::now();
    assert!(server.llm.wait_for_abandoned(1, Duration::from_secs(1)).await, "the provider call ended within a second");
    let job = server.wait_for_end(token, &id).await;
    assert!(asked.elapsed() < Duration::from_secs(3));
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(!job["output"].as_str().unwrap().is_empty(), "what was received stays");
    assert_eq!(job["cancel_requested"], false);
    let events = SseReader::new(open_events(&server.app, token, &id, None).await).rest().await;
    assert_eq!(events.last().unwrap().data["status"], "cancelled");
    assert_eq!(server.llm.streams_completed(), 0);

    // A queued job is cancelled at once: a second job waits behind the first one's project.
    server.llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let running = server.start(token, &project, "first").await["id"].as_str().unwrap().to_owned();
    server.wait_until(token, &running, |j| j["status"] == "running").await;
    let queued = server.start(token, &project, "second").await["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.job(token, &queued).await["status"], "queued", "one running job per project");
    let res = server.app.post_as(token, &format!("/api/v2/generation/jobs/{queued}/cancel"), &json!({})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    server.app.post_as(token, &format!("/api/v2/generation/jobs/{running}/cancel"), &json!({})).await;
    assert_eq!(server.wait_for_end(token, &running).await["status"], "cancelled");
});

scenario!(a_websocket_carries_the_events_and_cancels_the_job, [sqlite_memory, postgres_redis], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    server.llm.script(ScriptedReply::slow(400, Duration::from_millis(50)));
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let id = server.start(token, &project, "watch me").await["id"].as_str().unwrap().to_owned();
    let ticket: Value = server
        .app
        .post_as(token, &format!("/api/v2/generation/jobs/{id}/ticket"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = format!("ws://127.0.0.1:{}{}", server.app.port, ticket["ws_url"].as_str().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    let mut events = Vec::new();
    let mut cancelled = false;
    let mut close_code = None;
    while let Some(message) =
        tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("a frame in time")
    {
        match message.unwrap() {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == "delta" && !cancelled {
                    socket.send(Message::Text(r#"{"type":"cancel"}"#.into())).await.unwrap();
                    cancelled = true;
                }
                events.push(event);
            }
            Message::Close(frame) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    assert!(cancelled);
    assert_eq!(close_code, Some(1000));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap()["type"], "end");
    assert_eq!(events.last().unwrap()["status"], "cancelled");
    assert!(server.llm.wait_for_abandoned(1, Duration::from_secs(1)).await);

    // A message the server does not understand closes with 1003; a used ticket is refused.
    let ticket: Value = server
        .app
        .post_as(token, &format!("/api/v2/generation/jobs/{id}/ticket"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = format!("ws://127.0.0.1:{}{}", server.app.port, ticket["ws_url"].as_str().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    socket.send(Message::Text("hello".into())).await.unwrap();
    let mut code = None;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Close(frame) = message {
            code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    // The ended job's log may be replayed first and closed normally before the message is read.
    assert!(matches!(code, Some(1003 | 1000)), "{code:?}");
    assert!(tokio_tungstenite::connect_async(url).await.is_err(), "a spent ticket does not upgrade");
});
