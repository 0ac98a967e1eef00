//! Start-up: migrations apply once and a second start reuses the database.

use devora_e2e::TempDir;
use devora_server::Settings;

use super::*;

scenario!(a_second_start_reuses_the_migrated_sqlite_file, [sqlite_memory], |variant: Variant| {
    let dir = TempDir::new();
    let path = dir.path().join("devora.db");
    let options = || Options { sqlite_path: Some(path.clone()), ..Options::default() };

    let first = TestApp::spawn_with(variant, options()).await;
    assert_eq!(first.get("/health/ready").await.status(), 200);
    first.stop().await;
    drop(first);
    assert!(path.exists(), "the SQLite file was created");

    let second = TestApp::spawn_with(variant, options()).await;
    assert_eq!(second.get("/health/ready").await.status(), 200);
    second.stop().await;

    let settings =
        Settings::from_vars([("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", path.display()))]).unwrap();
    let applied = devora_server::migrate(&settings).await.unwrap();
    assert_each_applied_once(&applied);
    assert_eq!(devora_server::migrate(&settings).await.unwrap(), applied, "nothing left to apply");
});

scenario!(nodes_starting_together_on_postgres_migrate_once, [postgres_memory], |first: TestApp| {
    // The harness made a fresh database; three more concurrent migrations on it must all succeed.
    let url = {
        let res: Value = first.get("/health/ready").await.json().await.unwrap();
        assert_eq!(res["checks"]["database"]["backend"], "postgres");
        first_database_url(&first)
    };
    let settings = Settings::from_vars([("DATABASE_URL".to_owned(), url)]).unwrap();
    let runs = (0..3).map(|_| devora_server::migrate(&settings));
    let results: Vec<Vec<String>> =
        futures_util::future::join_all(runs).await.into_iter().map(Result::unwrap).collect();
    assert_each_applied_once(&results[0]);
    assert!(results.iter().all(|r| *r == results[0]), "{results:?}");
});

fn assert_each_applied_once(applied: &[String]) {
    let unique: std::collections::BTreeSet<_> = applied.iter().collect();
    assert!(!applied.is_empty());
    assert_eq!(unique.len(), applied.len(), "a migration recorded twice: {applied:?}");
    let mut sorted = applied.to_vec();
    sorted.sort();
    assert_eq!(sorted, applied, "applied in order");
}

fn first_database_url(app: &TestApp) -> String {
    app.database_url.clone().expect("postgres variant has a database url")
}

#[tokio::test]
async fn production_refuses_to_start_without_a_jwt_secret_or_on_sqlite() {
    let err = Settings::from_vars([("APP_ENV".to_owned(), "production".to_owned())]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("JWT_SECRET") && text.contains("DATABASE_URL"), "{text}");
}

scenario!(a_graceful_stop_lets_in_flight_requests_finish, [sqlite_memory], |app: TestApp| {
    let token = app.new_user().await.access_token;
    let id = app.create_project_id(&token, "drain").await;
    // An upload that takes ~600 ms to arrive, in three chunks.
    let chunks = futures_util::stream::unfold(0u8, |i| async move {
        if i == 3 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Some((Ok::<_, std::io::Error>(vec![b'x'; 100]), i + 1))
    });
    let upload = app
        .client
        .put(app.url(&format!("/api/v2/projects/{id}/files/slow.txt")))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(chunks))
        .send();
    let stop = async {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        app.stop().await; // graceful: stop accepting, drain within SHUTDOWN_TIMEOUT_SECS
    };
    let (res, ()) = tokio::join!(upload, stop);
    let res = res.expect("the in-flight request was answered");
    assert_eq!(res.status(), 201, "the in-flight upload completed during the drain");
    let entry: Value = res.json().await.unwrap();
    assert_eq!(entry["size"], 300);
    // New connections are refused once stopped.
    let fresh = reqwest::Client::new().get(app.url("/health/live")).send().await;
    assert!(fresh.is_err(), "the server still accepts connections after stopping");
});

scenario!(an_idempotency_claim_abandoned_in_flight_can_be_claimed_again, [postgres_memory], |app: TestApp| {
    use devora_ports::{CreatedResource, IdempotencyClaim, IdempotencyStore};

    let signed_in = app.new_user().await;
    let user = devora_domain::UserId::parse(signed_in.user_id()).unwrap();
    // The store as another node sees it, on the same database.
    let adapters = devora_server::Adapters::connect(&app.settings(vec![])).await.unwrap();
    let store = adapters.database;
    // The clock the services use: microseconds, as the database keeps them.
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let minutes = |m| now - chrono::Duration::minutes(m);

    let claim = |at, stale| store.claim(user, "k", "fp", at, minutes(24 * 60), stale);
    assert_eq!(claim(minutes(5), minutes(6)).await.unwrap(), IdempotencyClaim::Claimed(minutes(5)));
    // Still in flight and recent: a duplicate is told so.
    assert_eq!(claim(now, minutes(6)).await.unwrap(), IdempotencyClaim::InFlight);
    // Its process died: after the stale threshold the key is free again.
    assert_eq!(claim(now, minutes(1)).await.unwrap(), IdempotencyClaim::Claimed(now));
    // Had it only stalled, its late answer neither completes nor releases the new claim.
    let late = CreatedResource { representation: b"{\"late\":true}".to_vec(), location: None };
    assert!(!store.complete(user, "k", minutes(5), &late).await.unwrap());
    store.release(user, "k", minutes(5)).await.unwrap();
    assert_eq!(claim(now, minutes(6)).await.unwrap(), IdempotencyClaim::InFlight);
    let stored = CreatedResource { representation: b"{}".to_vec(), location: None };
    assert!(store.complete(user, "k", now, &stored).await.unwrap());
    // A completed response is never treated as abandoned.
    assert_eq!(claim(now, now).await.unwrap(), IdempotencyClaim::Completed(stored));
    assert_eq!(store.claim(user, "k", "other", now, minutes(24 * 60), now).await.unwrap(), IdempotencyClaim::Mismatch);
});
