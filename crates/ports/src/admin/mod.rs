//! Administration's storage: searching accounts, changing them together with
//! their audit entry (one transaction: an entry never exists without its change,
//! and a change that rolls back leaves none), the audit log, and counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::admin::{AdminRefusal, AuditAction, AuditActor, AuditEntry, UserPatch};
use devora_domain::{IdentityProviderId, JobStatus, Role, SessionId, User, UserId, UserStatus};

use crate::{Page, PageCursor, StorageError};

/// Who asked, from where: recorded with every entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: AuditActor,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub now: DateTime<Utc>,
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub context: AuditContext,
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    /// JSON objects, as text.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Account filters for the admin list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    /// Case-insensitive prefix of the email or the name.
    pub prefix: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Audit log filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<AuditActor>,
    pub target_id: Option<String>,
    pub action: Option<AuditAction>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// What an account holds, for support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFootprint {
    pub projects: u64,
    pub storage_bytes: u64,
    pub providers: Vec<IdentityProviderId>,
}

/// The service's counts at a moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminStats {
    pub users_total: u64,
    pub users_new_7d: u64,
    pub users_suspended: u64,
    /// (plan, status, count).
    pub subscriptions: Vec<(String, String, u64)>,
    pub projects: u64,
    /// Jobs created in the last 24 h, by status.
    pub jobs_24h: Vec<(JobStatus, u64)>,
    pub tokens_24h: u64,
    pub webhooks_received_24h: u64,
    pub webhooks_failed_24h: u64,
    /// Failed deliveries whose event has not taken effect since.
    pub webhooks_pending: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeUserError {
    #[error("no such user")]
    NotFound,
    #[error("refused: {0:?}")]
    Refused(AdminRefusal),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// An account change as applied: the account before and after, and the
/// sessions a suspension revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChange {
    pub before: User,
    pub after: User,
    pub revoked: Vec<SessionId>,
}

#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Accounts matching `search`, newest first, after `after`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn search_users(
        &self,
        search: &UserSearch,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<User>, StorageError>;

    /// Applies `patch` to the account, by [`devora_domain::admin::check_change`]
    /// with the active administrators counted while their rows are held, revokes
    /// every session when it suspends, and appends the audit entry (its before and
    /// after the account's role and status), all in one transaction. A patch that
    /// changes nothing writes nothing and records nothing.
    ///
    /// # Errors
    /// [`ChangeUserError`].
    async fn change_user(
        &self,
        target: UserId,
        patch: UserPatch,
        context: &AuditContext,
    ) -> Result<UserChange, ChangeUserError>;

    /// Appends an entry recording something that changed nothing here (a support
    /// read, a reconcile run's summary).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StorageError>;

    /// The log, newest first, after `after`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn audit_log(
        &self,
        filter: &AuditFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn footprint(&self, user: UserId) -> Result<AccountFootprint, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn stats(&self, now: DateTime<Utc>) -> Result<AdminStats, StorageError>;
}
