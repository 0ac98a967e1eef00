//! Administration: who may change whom (an admin cannot suspend or demote
//! themself; the last active admin stays one), and the audit log's entries.

use chrono::{DateTime, Utc};

use crate::{Role, User, UserId, UserStatus};

uuid_id!(AuditEntryId, "An audit log entry's id.");

/// What an audit entry records. Codes never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A user's role changed.
    UserRoleChanged,
    /// A user was suspended (every session revoked).
    UserSuspended,
    /// A suspended user was reactivated.
    UserReactivated,
    /// An administrator stopped a user's generation job.
    JobCancelled,
    /// Billing was reconciled with Stripe (the summary in `after`).
    BillingReconciled,
    /// Support read a user's details.
    UserViewed,
    /// Support read a user's projects.
    UserProjectsViewed,
    /// Support read a user's generation jobs.
    UserJobsViewed,
}

impl AuditAction {
    pub const ALL: [Self; 8] = [
        Self::UserRoleChanged,
        Self::UserSuspended,
        Self::UserReactivated,
        Self::JobCancelled,
        Self::BillingReconciled,
        Self::UserViewed,
        Self::UserProjectsViewed,
        Self::UserJobsViewed,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRoleChanged => "user_role_changed",
            Self::UserSuspended => "user_suspended",
            Self::UserReactivated => "user_reactivated",
            Self::JobCancelled => "job_cancelled",
            Self::BillingReconciled => "billing_reconciled",
            Self::UserViewed => "user_viewed",
            Self::UserProjectsViewed => "user_projects_viewed",
            Self::UserJobsViewed => "user_jobs_viewed",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// Who acted: an administrator, or an operator command on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditActor {
    User(UserId),
    Cli,
}

impl AuditActor {
    /// The stored form: the user's id, or `cli`.
    #[must_use]
    pub fn as_string(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::Cli => "cli".to_owned(),
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "cli" { Some(Self::Cli) } else { UserId::parse(raw).map(Self::User) }
    }
}

/// One entry of the append-only audit log. `before` and `after` are JSON objects
/// (as text) describing the target's state around the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub actor: AuditActor,
    pub action: AuditAction,
    /// `user`, `job` or `billing`.
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A change an administrator asks for on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Why an account change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// An administrator may not suspend or demote themself.
    OwnAccount,
    /// The change would leave no active administrator.
    LastAdmin,
}

/// The rule for an account change; the store calls it while it holds the
/// administrators' rows, with `active_admins` counted under that lock.
///
/// # Errors
/// [`AdminRefusal`].
pub fn check_change(
    actor: Option<UserId>,
    target: &User,
    patch: UserPatch,
    active_admins: u64,
) -> Result<(), AdminRefusal> {
    let demoted = target.role == Role::Admin && patch.role.is_some_and(|r| r != Role::Admin);
    let suspended = target.status == UserStatus::Active && patch.status == Some(UserStatus::Suspended);
    if !(demoted || suspended) {
        return Ok(());
    }
    if actor == Some(target.id) {
        return Err(AdminRefusal::OwnAccount);
    }
    let counts_as_admin = target.role == Role::Admin && target.status == UserStatus::Active;
    if counts_as_admin && active_admins <= 1 {
        return Err(AdminRefusal::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, UserName};

    fn user(role: Role, status: UserStatus) -> User {
        User {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            name: UserName::parse("A").unwrap(),
            role,
            status,
            email_verified: true,
            has_password: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn admins_cannot_demote_or_suspend_themselves_nor_the_last_admin() {
        let admin = user(Role::Admin, UserStatus::Active);
        let demote = UserPatch { role: Some(Role::User), status: None };
        let suspend = UserPatch { role: None, status: Some(UserStatus::Suspended) };
        assert_eq!(check_change(Some(admin.id), &admin, demote, 5), Err(AdminRefusal::OwnAccount));
        assert_eq!(check_change(Some(admin.id), &admin, suspend, 5), Err(AdminRefusal::OwnAccount));
        assert_eq!(check_change(Some(UserId::new()), &admin, demote, 1), Err(AdminRefusal::LastAdmin));
        assert_eq!(check_change(None, &admin, suspend, 1), Err(AdminRefusal::LastAdmin));
        assert_eq!(check_change(Some(UserId::new()), &admin, demote, 2), Ok(()));
        // Promoting, reactivating, or touching a plain user is always allowed.
        let plain = user(Role::User, UserStatus::Active);
        assert_eq!(check_change(Some(UserId::new()), &plain, suspend, 1), Ok(()));
        assert_eq!(
            check_change(Some(admin.id), &admin, UserPatch { role: Some(Role::Admin), status: None }, 1),
            Ok(())
        );
        let suspended = user(Role::Admin, UserStatus::Suspended);
        assert_eq!(check_change(Some(UserId::new()), &suspended, demote, 1), Ok(()), "not an active admin");
    }

    #[test]
    fn codes_and_actors_read_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        let id = UserId::new();
        assert_eq!(AuditActor::parse(&AuditActor::User(id).as_string()), Some(AuditActor::User(id)));
        assert_eq!(AuditActor::parse("cli"), Some(AuditActor::Cli));
        assert_eq!(AuditActor::parse("root"), None);
    }
}
