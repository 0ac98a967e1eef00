//! An account change and its audit entry are one transaction, on SQLite and on
//! Postgres (when `TEST_DATABASE_URL` names a server, as in CI): when the entry
//! cannot be written the change does not happen, and a refused change records
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{SubsecRound, Utc};
use devora_db::Database;
use devora_domain::admin::{AdminRefusal, AuditActor, UserPatch};
use devora_domain::{Email, Role, UserId, UserName, UserStatus};
use devora_ports::admin::{AdminStore, AuditContext, AuditFilter, ChangeUserError};
use devora_ports::{NewUser, UserRepository};
use sea_orm::{ConnectionTrait, DbBackend};

use common::unique;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_and_its_audit_entry_are_one_transaction() {
    common::on_both_unmigrated(|db| async move { a_change_and_its_entry_commit_together(&db).await }).await;
}
