//! What a job does to a project: the file protocol applied as the reply
//! streams, refusals that never write, continuation of a cut reply, revisions
//! that can be restored, and the context the model is shown.

use std::time::Duration;

use devora_e2e::standins::ScriptedReply;
use serde_json::json;

use super::*;

const APP_BEFORE: &str = "import React from 'react';\n\nexport function App() {\n  return <h1>Hello</h1>;\n}\n\nexport const theme = 'light';\n";

/// A reply using every tag: two writes (one fenced), an edit with two blocks, a
/// delete, a rename, a summary, and prose around them.
fn rich_reply() -> String {
    [
        "I'll add a header and tidy up.\n",
        "<devora-write path=\"src/Header.tsx\">\nexport const Header = () => <header>Héllo 😀</header>;\n</devora-write>\n",
        "<devora-write path=\"src/styles/main.css\">\n```css\nbody { margin: 0; }\n```\n</devora-write>\n",
        "<devora-edit path=\"src/App.tsx\">\n<<<<<<< SEARCH\n  return <h1>Hello</h1>;\n=======\n  return <Header />;\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nexport const theme = 'light';\n=======\nexport const theme = 'dark';\n>>>>>>> REPLACE\n</devora-edit>\n",
        "<devora-delete path=\"old.css\"/>\n",
        "<devora-rename from=\"src/util.ts\" to=\"src/lib/util.ts\"/>\n",
        "<devora-summary>Added a header, switched to the dark theme and tidied the files.</devora-summary>\n",
        "Done.",
    ]
    .concat()
}

async fn seed(server: &Gen, token: &str, project: &str) {
    for (path, content) in
        [("src/App.tsx", APP_BEFORE), ("old.css", "p {}\n"), ("src/util.ts", "export const x = 1;\n")]
    {
        let res = server.app.put_file(token, project, path, content.as_bytes().to_vec()).await;
        assert!(res.status().is_success());
    }
}

async fn file_text(server: &Gen, token: &str, project: &str, path: &str) -> Option<String> {
    let res = server.app.read_file(token, project, path).await;
    if res.status().as_u16() == 404 {
        return None;
    }
    Some(res.text().await.unwrap())
}

async fn tree(server: &Gen, token: &str, project: &str) -> Vec<(String, String)> {
    let files = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/files")).await;
    let items = files.as_array().cloned().or_else(|| files["items"].as_array().cloned()).unwrap();
    items.iter().map(|f| (f["path"].as_str().unwrap().to_owned(), f["sha256"].as_str().unwrap().to_owned())).collect()
}

async fn run_job(server: &Gen, token: &str, project: &str, reply: ScriptedReply) -> Value {
    server.llm.script(reply);
    let id = server.start(token, project, "Add a header").await["id"].as_str().unwrap().to_owned();
    server.wait_for_end(token, &id).await
}

scenario!(a_reply_writes_edits_deletes_renames_and_summarises, [sqlite_memory, postgres_redis], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    seed(&server, token, &project).await;
    let job = run_job(&server, token, &project, ScriptedReply::text(&rich_reply())).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["summary"], "Added a header, switched to the dark theme and tidied the files.");
    let ops: Vec<(String, bool)> = job["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!("{} {}", o["kind"].as_str().unwrap(), o["path"].as_str().unwrap()),
                o["applied"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("write src/Header.tsx".to_owned(), true),
            ("write src/styles/main.css".to_owned(), true),
            ("edit src/App.tsx".to_owned(), true),
            ("delete old.css".to_owned(), true),
            ("rename src/lib/util.ts".to_owned(), true),
        ]
    );
    assert_eq!(
        file_text(&server, token, &project, "src/Header.tsx").await.unwrap(),
        "export const Header = () => <header>Héllo 😀</header>;\n"
    );
    assert_eq!(
        file_text(&server, token, &project, "src/styles/main.css").await.unwrap(),
        "body { margin: 0; }\n",
        "the fence is stripped"
    );
    let app = file_text(&server, token, &project, "src/App.tsx").await.unwrap();
    assert_eq!(app, APP_BEFORE.replace("<h1>Hello</h1>", "<Header />").replace("'light'", "'dark'"));
    assert_eq!(file_text(&server, token, &project, "old.css").await, None);
    assert_eq!(file_text(&server, token, &project, "src/util.ts").await, None);
    assert_eq!(file_text(&server, token, &project, "src/lib/util.ts").await.unwrap(), "export const x = 1;\n");

    // One revision holds the job's changes, before and after.
    let n = job["revision"].as_u64().unwrap();
    let revision = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/revisions/{n}")).await;
    assert_eq!((revision["kind"].as_str(), revision["job_id"].as_str()), (Some("job"), job["id"].as_str()));
    assert_eq!(revision["summary"], job["summary"]);
    let changed: Vec<&str> =
        revision["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(
        changed,
        ["old.css", "src/App.tsx", "src/Header.tsx", "src/lib/util.ts", "src/styles/main.css", "src/util.ts"]
    );
    let deleted = &revision["changes"][0];
    assert!(deleted["before_sha256"].is_string() && deleted.get("after_sha256").is_none());

    // Each applied operation was an event with its size and sha256.
    let events = SseReader::new(open_events(&server.app, token, job["id"].as_str().unwrap(), None).await).rest().await;
    let files: Vec<&Value> = events.iter().filter(|e| e.data["type"] == "file").map(|e| &e.data).collect();
    assert_eq!(files.len(), 5);
    let header = files.iter().find(|e| e["path"] == "src/Header.tsx").unwrap();
    let listed = tree(&server, token, &project).await;
    assert_eq!(
        Some(header["sha256"].as_str().unwrap()),
        listed.iter().find(|(p, _)| p == "src/Header.tsx").map(|(_, s)| s.as_str())
    );
    assert!(header["size"].as_u64().unwrap() > 0);

    // The conversation records the prose, the summary and the changes.
    let messages = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/messages")).await;
    let said = messages["items"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    for part in [
        "I'll add a header",
        "switched to the dark theme",
        "- edit src/App.tsx",
        "- rename src/util.ts -> src/lib/util.ts",
    ] {
        assert!(said.contains(part), "{part} in {said}");
    }
    assert!(!said.contains("devora-"), "no protocol tags in the conversation: {said}");
});

scenario!(the_result_does_not_depend_on_where_the_stream_splits, [sqlite_memory], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let user = server.app.new_user().await;
    let token = &user.access_token;
    let mut results = Vec::new();
    for reply in [
        ScriptedReply::deltas(vec![rich_reply()]),
        ScriptedReply::deltas(vec![rich_reply()]).chunk_size(1),
        ScriptedReply::deltas(vec![rich_reply()]).chunk_size(7),
        ScriptedReply::text(&rich_reply()).split_at(vec![3, 50, 51, 52, 200, 333, 334, 600]),
    ] {
        let project = server.app.create_project_id(token, "Split").await;
        seed(&server, token, &project).await;
        let job = run_job(&server, token, &project, reply).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let ops: Vec<Value> = job["operations"].as_array().unwrap().clone();
        results.push((tree(&server, token, &project).await, ops, job["summary"].clone()));
    }
    for other in &results[1..] {
        assert_eq!(other, &results[0]);
    }
});

scenario!(
    hostile_paths_and_bad_edits_are_refused_and_nothing_else_is_written,
    [sqlite_memory, postgres_memory],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        seed(&server, token, &project).await;
        let before = tree(&server, token, &project).await;
        let reply = [
        "<devora-write path=\"../../etc/passwd\">\nroot::0:0\n</devora-write>\n",
        "<devora-write path=\"/etc/passwd\">\nroot::0:0\n</devora-write>\n",
        "<devora-write path=\"src/../../../escape.txt\">\nx\n</devora-write>\n",
        "<devora-delete path=\"../old.css\"/>\n",
        "<devora-edit path=\"src/App.tsx\">\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE\n</devora-edit>\n",
        "<devora-edit path=\"src/App.tsx\">\n<<<<<<< SEARCH\nexport\n=======\nimport\n>>>>>>> REPLACE\n</devora-edit>\n",
        "<devora-edit path=\"src/missing.ts\">\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n</devora-edit>\n",
        "<devora-rename from=\"src/util.ts\" to=\"old.css\"/>\n",
        "<devora-delete path=\"nope.txt\"/>\n",
        "<devora-frobnicate path=\"x\"/>\n",
        "<devora-write path=\"ok.txt\">\nstill applied\n</devora-write>\n",
    ]
    .concat();
        let job = run_job(&server, token, &project, ScriptedReply::text(&reply)).await;
        assert_eq!(job["status"], "succeeded", "refusals do not fail the job: {job}");
        let reasons: Vec<String> = job["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["reason"].as_str().unwrap_or("applied").to_owned())
            .collect();
        assert_eq!(
            reasons,
            [
                "invalid-path",
                "invalid-path",
                "invalid-path",
                "invalid-path",
                "search-not-found",
                "search-ambiguous",
                "not-found",
                "already-exists",
                "not-found",
                "malformed",
                "applied",
            ]
        );
        for refused in job["operations"].as_array().unwrap().iter().filter(|o| o["applied"] == false) {
            assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let mut after = tree(&server, token, &project).await;
        after.retain(|(p, _)| p != "ok.txt");
        assert_eq!(after, before, "only ok.txt was written");
        let events =
            SseReader::new(open_events(&server.app, token, job["id"].as_str().unwrap(), None).await).rest().await;
        assert_eq!(events.iter().filter(|e| e.data["type"] == "file_refused").count(), 10);
        assert_eq!(events.iter().filter(|e| e.data["type"] == "file").count(), 1);
    }
);

scenario!(a_cut_reply_is_continued_and_the_open_file_completed, [sqlite_memory, postgres_redis], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    server.llm.script(
        ScriptedReply::text(
            "<devora-write path=\"done.txt\">\nfirst\n</devora-write>\n<devora-write path=\"long.ts\">\nline one\n",
        )
        .finish_reason("length"),
    );
    server.llm.script(ScriptedReply::text("line two\n</devora-write>\n<devora-summary>Two files.</devora-summary>"));
    let id = server.start(token, &project, "write them").await["id"].as_str().unwrap().to_owned();
    let job = server.wait_for_end(token, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(file_text(&server, token, &project, "long.ts").await.unwrap(), "line one\nline two\n");
    assert_eq!(file_text(&server, token, &project, "done.txt").await.unwrap(), "first\n");
    let requests = server.llm.requests();
    assert_eq!(requests.len(), 2);
    let asked = requests[1]["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(asked.contains("<devora-write path=\"long.ts\">"), "{asked}");

    // Still open after the cap (three calls): refused as truncated, the completed one stays.
    server.llm.script(
        ScriptedReply::text(
            "<devora-write path=\"kept.txt\">\nkept\n</devora-write>\n<devora-write path=\"never.ts\">\nmore\n",
        )
        .finish_reason("length"),
    );
    for _ in 0..2 {
        server.llm.script(ScriptedReply::text("and more\n").finish_reason("length"));
    }
    let id = server.start(token, &project, "again").await["id"].as_str().unwrap().to_owned();
    let job = server.wait_for_end(token, &id).await;
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("output-limit")),
        "{job}"
    );
    let last = job["operations"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["path"].as_str(), last["reason"].as_str()), (Some("never.ts"), Some("truncated")));
    assert_eq!(file_text(&server, token, &project, "never.ts").await, None, "never written half");
    assert_eq!(file_text(&server, token, &project, "kept.txt").await.unwrap(), "kept\n");
    assert!(job["revision"].is_u64(), "what was applied is a revision");
});

scenario!(a_fullstack_scaffold_is_written_into_its_new_project, [sqlite_memory], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    server.llm.script(ScriptedReply::text("<devora-write path=\"package.json\">\n{\"name\": \"recipes\"}\n</devora-write>\n<devora-write path=\"src/main.tsx\">\nrender();\n</devora-write>\n<devora-summary>Scaffolded.</devora-summary>"));
    let user = server.app.new_user().await;
    let token = &user.access_token;
    let res = server
        .app
        .post_as(
            token,
            "/api/v2/generation/fullstack",
            &json!({"name": "Recipes", "frontend": "react", "backend": "express", "database": "sqlite"}),
        )
        .await;
    let job: Value = res.json().await.unwrap();
    let project = job["project_id"].as_str().unwrap().to_owned();
    let done = server.wait_for_end(token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let paths: Vec<String> = tree(&server, token, &project).await.into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["package.json", "src/main.tsx"]);
    let revisions = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/revisions")).await;
    assert_eq!(revisions["items"].as_array().unwrap().len(), 1);
    assert_eq!(revisions["items"][0]["summary"], "Scaffolded.");
});

scenario!(
    a_restore_undoes_a_job_and_a_restore_of_the_restore_redoes_it,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let server = Gen::spawn(variant).await;
        let (user, project) = server.user_with_project().await;
        let token = &user.access_token;
        seed(&server, token, &project).await; // revisions 1..3
        let original = tree(&server, token, &project).await;
        let job = run_job(&server, token, &project, ScriptedReply::text(&rich_reply())).await;
        let n = job["revision"].as_u64().unwrap();
        assert_eq!(n, 4);
        let changed = tree(&server, token, &project).await;

        let res =
            server.app.post_as(token, &format!("/api/v2/projects/{project}/revisions/3/restore"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 201);
        assert_eq!(res.headers().get("location").unwrap(), &format!("/api/v2/projects/{project}/revisions/5"));
        let undo: Value = res.json().await.unwrap();
        assert_eq!(
            (undo["number"].as_u64(), undo["kind"].as_str(), undo["restored_from"].as_u64()),
            (Some(5), Some("restore"), Some(3))
        );
        assert_eq!(tree(&server, token, &project).await, original);
        assert_eq!(file_text(&server, token, &project, "src/App.tsx").await.unwrap(), APP_BEFORE);

        let res =
            server.app.post_as(token, &format!("/api/v2/projects/{project}/revisions/4/restore"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 201);
        assert_eq!(tree(&server, token, &project).await, changed);
        // Restoring the state the files are already in records nothing.
        let res =
            server.app.post_as(token, &format!("/api/v2/projects/{project}/revisions/6/restore"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 200);

        let page = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/revisions?limit=4")).await;
        let numbers: Vec<u64> =
            page["items"].as_array().unwrap().iter().map(|r| r["number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [6, 5, 4, 3]);
        let cursor = page["next_cursor"].as_str().unwrap();
        let rest = server
            .app
            .get_json_as(token, &format!("/api/v2/projects/{project}/revisions?limit=4&cursor={cursor}"))
            .await;
        let numbers: Vec<u64> =
            rest["items"].as_array().unwrap().iter().map(|r| r["number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [2, 1]);
        assert_eq!(rest["next_cursor"], Value::Null);
        assert_eq!(rest["items"][1]["kind"], "files");

        // Revision 0 is the state before the first revision: here, no files at all.
        let res =
            server.app.post_as(token, &format!("/api/v2/projects/{project}/revisions/0/restore"), &json!({})).await;
        assert_eq!(res.status().as_u16(), 201);
        assert!(tree(&server, token, &project).await.is_empty());

        // Refusals: another user's project, no such revision, nonsense.
        let stranger = server.app.new_user().await;
        for (who, path, code) in [
            (&stranger.access_token, format!("/api/v2/projects/{project}/revisions"), 404),
            (token, format!("/api/v2/projects/{project}/revisions/99"), 404),
            (token, format!("/api/v2/projects/{project}/revisions/0"), 404),
            (token, format!("/api/v2/projects/{project}/revisions/x"), 404),
            (token, format!("/api/v2/projects/{project}/revisions?cursor=bogus"), 422),
        ] {
            let res = server.app.get_as(who, &path).await;
            assert_problem(res, code, if code == 404 { "not-found" } else { "validation-failed" }).await;
        }
        let res =
            server.app.post_as(token, &format!("/api/v2/projects/{project}/revisions/99/restore"), &json!({})).await;
        assert_problem(res, 404, "not-found").await;
        let res = server
            .app
            .post_as(&stranger.access_token, &format!("/api/v2/projects/{project}/revisions/1/restore"), &json!({}))
            .await;
        assert_problem(res, 404, "not-found").await;
    }
);

scenario!(a_cancelled_jobs_revision_holds_only_complete_files, [sqlite_memory, postgres_redis], |variant: Variant| {
    let server = Gen::spawn(variant).await;
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    let mut deltas = vec![
        "<devora-write path=\"complete.txt\">\nall here\n</devora-write>\n<devora-write path=\"partial.txt\">\n"
            .to_owned(),
    ];
    deltas.extend((0..400).map(|i| format!("line {i}\n")));
    server.llm.script(ScriptedReply::deltas(deltas).delay_between_chunks(Duration::from_millis(30)));
    let id = server.start(token, &project, "two files").await["id"].as_str().unwrap().to_owned();
    server.wait_until(token, &id, |_| true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while file_text(&server, token, &project, "complete.txt").await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the first file was written as soon as it closed");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    server.app.post_as(token, &format!("/api/v2/generation/jobs/{id}/cancel"), &json!({})).await;
    let job = server.wait_for_end(token, &id).await;
    assert_eq!(job["status"], "cancelled");
    assert_eq!(file_text(&server, token, &project, "partial.txt").await, None);
    let n = job["revision"].as_u64().unwrap();
    let revision = server.app.get_json_as(token, &format!("/api/v2/projects/{project}/revisions/{n}")).await;
    let paths: Vec<&str> =
        revision["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["complete.txt"]);
});

scenario!(the_context_stays_within_the_window_on_a_project_larger_than_it, [sqlite_memory], |variant: Variant| {
    let env = [("GENERATION_MODEL_WINDOWS", "gpt-4o-mini=4000:4"), ("GENERATION_MAX_TOKENS_PER_CALL", "1000")];
    let server = Gen::spawn_with(variant, &roomy_limits(), &env, Options::default()).await;
    let (user, project) = server.user_with_project().await;
    let token = &user.access_token;
    for i in 0..150 {
        let content = format!("// file {i}\n{}", "x".repeat(300));
        server.app.put_file(token, &project, &format!("src/f{i}.ts"), content.into_bytes()).await;
    }
    server.app.put_file(token, &project, "src/target.ts", b"export const target = 1;\n".to_vec()).await;
    for i in 0..20 {
        server.app.post_message(token, &project, &format!("earlier request {i}: {}", "y".repeat(300))).await;
    }
    let job = run_job(&server, token, &project, ScriptedReply::text("ok")).await;
    assert_eq!(job["status"], "succeeded");
    let sent = &server.llm.requests()[0];
    let chars: usize = sent["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().len()).sum();
    let max_tokens = sent["max_tokens"].as_u64().unwrap() as usize;
    assert!(
        chars / 4 + max_tokens <= 4000,
        "prompt ~{} tokens + {max_tokens} reserved fit in the 4000-token window",
        chars / 4
    );
    assert!(chars > 4000, "the context was used, not left empty ({chars} chars)");
    let context = sent["messages"][1]["content"].as_str().unwrap();
    assert!(context.contains("src/target.ts"), "the tree lists the files");
    assert!(context.contains("more files"), "the tree is cut to its share");
});
