//! Start-up: migrations apply once and a second start reuses the database.

use devora_e2e::TempDir;
use devora_server::Settings;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_reuses_the_migrated_sqlite_file() {
    let dir = TempDir::new();
    let path = dir.path().join("devora.db");
    let options = || Options { sqlite_path: Some(path.clone()), ..Options::default() };

    let first = TestApp::spawn_with(Variant::SQLITE_MEMORY, options()).await.unwrap();
    assert_eq!(first.get("/health/ready").await.status(), 200);
    first.stop().await;
    drop(first);
    assert!(path.exists(), "the SQLite file was created");

    let second = TestApp::spawn_with(Variant::SQLITE_MEMORY, options()).await.unwrap();
    assert_eq!(second.get("/health/ready").await.status(), 200);
    second.stop().await;

    let settings =
        Settings::from_vars([("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", path.display()))]).unwrap();
    let applied = devora_server::migrate(&settings).await.unwrap();
    assert_each_applied_once(&applied);
    assert_eq!(devora_server::migrate(&settings).await.unwrap(), applied, "nothing left to apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_postgres_migrate_once() {
    let Some(first) = TestApp::spawn(Variant::POSTGRES_MEMORY).await else { return };
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
}

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
