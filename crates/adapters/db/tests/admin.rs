//! An account change and its audit entry are one transaction, on SQLite and on
//! Postgres (when `TEST_DATABASE_URL` names a server, as in CI): when the entry
//! cannot be written the change does not happen, and a refused change records
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use devora_db::{Database, DbConfig};
use devora_domain::admin::{AdminRefusal, AuditActor, UserPatch};
use devora_domain::{Email, Role, UserId, UserName, UserStatus};
use devora_ports::admin::{AdminStore, AuditContext, AuditFilter, ChangeUserError};
use devora_ports::{NewUser, UserRepository};
use sea_orm::{ConnectionTrait, DbBackend};

fn config(url: String) -> DbConfig {
    DbConfig {
        url,
        max_connections: 4,
        min_connections: 0,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        sqlite_busy_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    }
}

fn unique() -> String {
    format!("{:x}{:x}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn user(db: &Database, role: Role) -> UserId {
    let id = UserId::new();
    let new = NewUser {
        id,
        email: Email::parse(&format!("{}{}@example.com", unique(), id.as_uuid().simple())).unwrap(),
        name: UserName::parse("T").unwrap(),
        password_hash: None,
        role,
        email_verified: true,
        now: Utc::now().trunc_subsecs(6),
    };
    UserRepository::create(db, new).await.unwrap();
    id
}

async fn entries(db: &Database, target: UserId) -> usize {
    let filter = AuditFilter { target_id: Some(target.to_string()), ..AuditFilter::default() };
    db.audit_log(&filter, None, 100).await.unwrap().items.len()
}

async fn a_change_and_its_entry_commit_together(db: &Database) {
    db.migrate().await.unwrap();
    let admin = user(db, Role::Admin).await;
    let target = user(db, Role::User).await;
    let context = AuditContext { actor: AuditActor::User(admin), ip: None, request_id: None, now: Utc::now() };
    let suspend = UserPatch { role: None, status: Some(UserStatus::Suspended) };

    // A refused change records nothing.
    let refused = db.change_user(admin, suspend, &context).await;
    assert!(matches!(refused, Err(ChangeUserError::Refused(AdminRefusal::OwnAccount))));
    assert_eq!(entries(db, admin).await, 0);

    // When the entry cannot be written, the change rolls back with it.
    let conn = db.connection();
    let (block, unblock) = match conn.get_database_backend() {
        DbBackend::Postgres => (
            "ALTER TABLE audit_log ADD CONSTRAINT audit_blocked CHECK (false) NOT VALID",
            "ALTER TABLE audit_log DROP CONSTRAINT audit_blocked",
        ),
        _ => (
            "CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'blocked'); END",
            "DROP TRIGGER audit_blocked",
        ),
    };
    conn.execute_unprepared(block).await.unwrap();
    assert!(db.change_user(target, suspend, &context).await.is_err());
    conn.execute_unprepared(unblock).await.unwrap();
    let unchanged = UserRepository::find_by_id(db, target).await.unwrap().unwrap();
    assert_eq!(unchanged.status, UserStatus::Active, "the change rolled back with its entry");
    assert_eq!(entries(db, target).await, 0);

    // Applied: one entry with before and after.
    let change = db.change_user(target, suspend, &context).await.unwrap();
    assert_eq!(change.after.status, UserStatus::Suspended);
    let log = db
        .audit_log(&AuditFilter { target_id: Some(target.to_string()), ..AuditFilter::default() }, None, 10)
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].before.as_deref(), Some(r#"{"role":"user","status":"active"}"#));
    assert_eq!(log.items[0].after.as_deref(), Some(r#"{"role":"user","status":"suspended"}"#));
}

#[tokio::test]
async fn a_change_and_its_audit_entry_are_one_transaction_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("devora-admin-test-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&config(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))).await.unwrap();
    a_change_and_its_entry_commit_together(&db).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_change_and_its_audit_entry_are_one_transaction_on_postgres() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(std::env::var("CI").is_err(), "CI must run the Postgres tests: set TEST_DATABASE_URL");
        eprintln!("postgres skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let admin = Database::connect(&config(admin_url.clone())).await.unwrap();
    let name = format!("devora_admin_test_{}", unique());
    admin.connection().execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(&config(format!("{base}/{name}"))).await.unwrap();
    let outcome = tokio::spawn({
        let db = db.clone();
        async move { a_change_and_its_entry_commit_together(&db).await }
    })
    .await;
    db.connection().clone().close().await.unwrap();
    admin.connection().execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
