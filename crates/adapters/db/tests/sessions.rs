//! The session repository's concurrency guarantees, on a real SQLite database
//! (and on Postgres too when `TEST_DATABASE_URL` names a server, as in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use devora_db::{Database, DbConfig};
use devora_domain::{Email, ExternalIdentity, IdentityProviderId, Role, SessionId, UserId, UserName, UserStatus};
use devora_ports::{
    ExpiredRecords, NewSession, NewUser, PendingSignIn, PurgeReport, Rotation, SessionRepository, SignInProof,
    SignInStore, UserRepository,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// A fresh database per test: a SQLite file, or a new Postgres database.
struct Fresh {
    db: Database,
    cleanup: Option<(Database, String)>,
    _dir: Option<std::path::PathBuf>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(dir) = &self._dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn config(url: String) -> DbConfig {
    DbConfig {
        url,
        max_connections: 8,
        min_connections: 0,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        sqlite_busy_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    }
}

async fn sqlite() -> Fresh {
    let dir = std::env::temp_dir().join(format!("devora-db-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&config(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))).await.unwrap();
    db.migrate().await.unwrap();
    Fresh { db, cleanup: None, _dir: Some(dir) }
}

async fn postgres() -> Option<Fresh> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let admin = Database::connect(&config(admin_url.clone())).await.unwrap();
    let name = format!("devora_db_test_{}", uuid_like());
    admin.connection().execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(&config(format!("{base}/{name}"))).await.unwrap();
    db.migrate().await.unwrap();
    Some(Fresh { db, cleanup: Some((admin, name)), _dir: None })
}

impl Fresh {
    async fn close(self) {
        if let Some((admin, name)) = &self.cleanup {
            self.db.connection().clone().close().await.unwrap();
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            admin.connection().execute_unprepared(&drop).await.unwrap();
        }
    }
}

fn uuid_like() -> String {
    format!("{:x}{:x}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn user(db: &Database, password_hash: &str) -> UserId {
    let id = UserId::new();
    UserRepository::create(
        db,
        NewUser {
            id,
            email: Email::parse(&format!("{}@example.com", uuid_like())).unwrap(),
            name: UserName::parse("Test").unwrap(),
            password_hash: Some(password_hash.to_owned()),
            role: Role::User,
            email_verified: false,
            now: Utc::now().trunc_subsecs(6),
        },
    )
    .await
    .unwrap();
    id
}

fn session(user_id: UserId, refresh_hash: &str, checked: Option<&str>) -> NewSession {
    let now = Utc::now().trunc_subsecs(6);
    NewSession {
        id: SessionId::new(),
        user_id,
        now,
        expires_at: now + chrono::Duration::days(30),
        user_agent: None,
        ip: None,
        refresh_hash: refresh_hash.to_owned(),
        proof: checked.map_or(SignInProof::NewAccount, |hash| SignInProof::Password(hash.to_owned())),
    }
}

async fn a_sign_in_does_not_outlive_a_password_change(db: &Database) {
    let id = user(db, "old-hash").await;
    assert!(SessionRepository::create(db, session(id, "r-1", Some("old-hash"))).await.unwrap().is_some());
    db.set_password_hash(id, Some("new-hash"), Utc::now()).await.unwrap();
    // Checked against the old password before the change landed: refused.
    assert!(SessionRepository::create(db, session(id, "r-2", Some("old-hash"))).await.unwrap().is_none());
    assert!(SessionRepository::create(db, session(id, "r-3", Some("new-hash"))).await.unwrap().is_some());
    // A sign-in that checked no password only needs the account to exist, active.
    assert!(SessionRepository::create(db, session(id, "r-4", None)).await.unwrap().is_some());
    assert!(SessionRepository::create(db, session(UserId::new(), "r-5", None)).await.unwrap().is_none());
    // A password change over a password that changed meanwhile is refused.
    assert!(!db.replace_password_hash(id, "old-hash", "attackers-hash", Utc::now()).await.unwrap());
    assert!(db.replace_password_hash(id, "new-hash", "newer-hash", Utc::now()).await.unwrap());
    // A provider sign-in holds while its identity is linked, and not once a
    // takeover has unlinked it.
    let identity = ExternalIdentity {
        provider: IdentityProviderId::GitHub,
        subject: format!("gh-{}", uuid_like()),
        email: Email::parse("squatter@example.com").unwrap(),
        email_verified: false,
        name: None,
    };
    let by_identity = |refresh: &str| {
        let mut s = session(id, refresh, None);
        s.proof = SignInProof::Identity { provider: identity.provider, subject: identity.subject.clone() };
        s
    };
    assert!(SessionRepository::create(db, by_identity("r-7")).await.unwrap().is_none(), "not linked yet");
    db.link_identity(&identity, id, Utc::now()).await.unwrap();
    assert!(SessionRepository::create(db, by_identity("r-8")).await.unwrap().is_some());
    let owner = ExternalIdentity { subject: format!("owner-{}", uuid_like()), ..identity.clone() };
    db.unlink_other_identities(id, &owner).await.unwrap();
    assert!(SessionRepository::create(db, by_identity("r-9")).await.unwrap().is_none(), "unlinked by the takeover");
    // Suspended while signing in: no session to come back to life on reactivation.
    db.set_status(id, UserStatus::Suspended, Utc::now()).await.unwrap();
    assert!(SessionRepository::create(db, session(id, "r-6", None)).await.unwrap().is_none());
}

/// Sessions that ended are purged, with their refresh tokens, when the account
/// signs in again; live ones stay.
async fn ended_sessions_are_purged_at_the_next_sign_in(db: &Database) {
    let id = user(db, "hash").await;
    let long_ago = Utc::now().trunc_subsecs(6) - chrono::Duration::days(40);
    let mut expired = session(id, "expired-first", None);
    expired.now = long_ago;
    expired.expires_at = long_ago + chrono::Duration::days(30);
    let expired = SessionRepository::create(db, expired).await.unwrap().unwrap();
    assert_eq!(count(db, "sessions", "user_id", id.as_uuid()).await, 1);
    let live = SessionRepository::create(db, session(id, "live-first", None)).await.unwrap().unwrap();
    assert_eq!(count(db, "sessions", "user_id", id.as_uuid()).await, 1, "the expired session is gone");
    assert_eq!(count(db, "refresh_tokens", "session_id", expired.id.as_uuid()).await, 0, "with its tokens");
    SessionRepository::create(db, session(id, "another", None)).await.unwrap().unwrap();
    assert_eq!(count(db, "sessions", "user_id", id.as_uuid()).await, 2, "live sessions stay");
    assert_eq!(count(db, "refresh_tokens", "session_id", live.id.as_uuid()).await, 1);
    assert!(
        db.rotate("expired-first", "x", Utc::now(), Duration::from_secs(10), Duration::from_secs(3600)).await.unwrap()
            == Rotation::Invalid
    );
}

/// The periodic purge removes ended sessions (with their tokens) and expired
/// sign-in state, and leaves everything live alone.
async fn the_periodic_purge_removes_only_what_ended(db: &Database) {
    let id = user(db, "hash").await;
    let now = Utc::now().trunc_subsecs(6);
    let live = SessionRepository::create(db, session(id, "purge-live", None)).await.unwrap().unwrap();
    let mut ended = session(id, "purge-ended", None);
    ended.now = now - chrono::Duration::days(40);
    ended.expires_at = now - chrono::Duration::days(10);
    let ended = SessionRepository::create(db, ended).await.unwrap().unwrap();
    let pending = |expires_at| PendingSignIn {
        provider: IdentityProviderId::GitHub,
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        redirect_to: "http://app.test/cb".into(),
        client_challenge: "c".repeat(43),
        expires_at,
    };
    db.put_pending("purge-pending-live", pending(now + chrono::Duration::minutes(10)), now).await.unwrap();
    db.put_pending(
        "purge-pending-old",
        pending(now - chrono::Duration::minutes(1)),
        now - chrono::Duration::minutes(20),
    )
    .await
    .unwrap();
    let report = db.purge_expired(now, now - chrono::Duration::days(1)).await.unwrap();
    assert_eq!(report.sessions, 1, "{report:?}");
    assert_eq!(report.pending_sign_ins, 1, "{report:?}");
    assert_eq!(count(db, "sessions", "user_id", id.as_uuid()).await, 1);
    assert_eq!(count(db, "refresh_tokens", "session_id", ended.id.as_uuid()).await, 0, "tokens went with it");
    assert_eq!(count(db, "refresh_tokens", "session_id", live.id.as_uuid()).await, 1);
    assert!(db.take_pending("purge-pending-live", now).await.unwrap().is_some(), "the live sign-in stays");
    assert_eq!(db.purge_expired(now, now - chrono::Duration::days(1)).await.unwrap(), PurgeReport::default());
}

/// Concurrent first checkouts record the user's customer once; each learns it.
async fn concurrent_first_customers_are_recorded_once(db: &Database) {
    use devora_ports::BillingStore;
    let id = user(db, "hash").await;
    let now = Utc::now().trunc_subsecs(6);
    let tasks = (0..8).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.record_customer(id, "cus_same", now).await })
    });
    for recorded in futures_join(tasks).await {
        assert_eq!(recorded.unwrap().as_deref(), Some("cus_same"));
    }
    assert_eq!(db.customer_of(id).await.unwrap().as_deref(), Some("cus_same"));
    // Another user cannot take that customer over, and is told so.
    let other = user(db, "hash").await;
    assert_eq!(db.record_customer(other, "cus_same", now).await.unwrap(), None);
    assert_eq!(db.user_of_customer("cus_same").await.unwrap(), Some(id));
}

async fn count(db: &Database, table: &str, column: &str, id: sea_orm::prelude::Uuid) -> i64 {
    let backend = db.connection().get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {placeholder}");
    let row = db.connection().query_one_raw(Statement::from_sql_and_values(backend, sql, [id.into()])).await;
    row.unwrap().unwrap().try_get("", "n").unwrap()
}

/// Tabs presenting one refresh token at once all get a token, and every token
/// handed out is live: none is spent by a concurrent rotation of its family.
async fn concurrent_refreshes_hand_out_live_tokens(db: &Database) {
    let id = user(db, "hash").await;
    let created = SessionRepository::create(db, session(id, "first", None)).await.unwrap().unwrap();
    let tabs = (0..6).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            db.rotate("first", &format!("next-{i}"), Utc::now(), Duration::from_secs(10), Duration::from_secs(3600))
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<Rotation> = futures_join(tabs).await;
    let rotated = outcomes.iter().filter(|o| matches!(o, Rotation::Rotated(_))).count();
    let grace = outcomes.iter().filter(|o| matches!(o, Rotation::WithinGrace(_))).count();
    assert_eq!((rotated, grace), (1, 5), "{outcomes:?}");
    let backend = db.connection().get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!("SELECT COUNT(*) AS n FROM refresh_tokens WHERE spent_at IS NULL AND session_id = {placeholder}");
    let statement = Statement::from_sql_and_values(backend, sql, [created.id.as_uuid().into()]);
    let row = db.connection().query_one_raw(statement).await.unwrap().unwrap();
    let live: i64 = row.try_get("", "n").unwrap();
    assert_eq!(live, 6, "every token handed out is live");
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sign_ins_and_refreshes() {
    let fresh = sqlite().await;
    a_sign_in_does_not_outlive_a_password_change(&fresh.db).await;
    concurrent_refreshes_hand_out_live_tokens(&fresh.db).await;
    ended_sessions_are_purged_at_the_next_sign_in(&fresh.db).await;
    the_periodic_purge_removes_only_what_ended(&fresh.db).await;
    concurrent_first_customers_are_recorded_once(&fresh.db).await;
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sign_ins_and_refreshes() {
    let Some(fresh) = postgres().await else {
        assert!(std::env::var("CI").is_err(), "CI must run the Postgres tests: set TEST_DATABASE_URL");
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    a_sign_in_does_not_outlive_a_password_change(&fresh.db).await;
    concurrent_refreshes_hand_out_live_tokens(&fresh.db).await;
    ended_sessions_are_purged_at_the_next_sign_in(&fresh.db).await;
    the_periodic_purge_removes_only_what_ended(&fresh.db).await;
    concurrent_first_customers_are_recorded_once(&fresh.db).await;
    fresh.close().await;
}
