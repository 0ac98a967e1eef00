//! Changing accounts: role and status (each change recorded with its audit
//! entry), and the operator's first administrator.

use devora_domain::admin::UserPatch;
use devora_domain::{Email, JobStatus, Password, Role, SessionId, User, UserId, UserName, UserStatus};
use devora_ports::admin::{ChangeUserError, UserChange};
use devora_ports::generation::JobFilter;
use devora_ports::{CreateUserError, NewUser, StorageError};

use super::{Actor, AdminError, AdminService};
use crate::InternalError;

impl AdminService {
    /// Changes an account's role or status. Suspension revokes every session in
    /// the same transaction and is felt by the user's live access tokens at their
    /// next request on every node (their cached session state is dropped); a role
    /// change is seen the same way.
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`], [`AdminError::Refused`] (own account, last admin).
    pub async fn change_user(&self, actor: &Actor, id: UserId, patch: UserPatch) -> Result<User, AdminError> {
        let context = self.context(actor);
        let change = self.ports.store.change_user(id, patch, &context).await.map_err(|err| match err {
            ChangeUserError::NotFound => AdminError::UserNotFound,
            ChangeUserError::Refused(why) => AdminError::Refused(why),
            ChangeUserError::Storage(err) => err.into(),
        })?;
        let UserChange { before, after, revoked } = change;
        if before.role != after.role || before.status != after.status {
            let auth = &self.ports.auth;
            let mut sessions: Vec<SessionId> = revoked;
            if before.role != after.role {
                let live = auth.ports.sessions.list_alive(id, self.ports.clock.now()).await?;
                sessions.extend(live.iter().map(|s| s.id));
            }
            auth.forget_sessions(&sessions).await;
            if after.status == UserStatus::Suspended && before.status != UserStatus::Suspended {
                self.stop_jobs_of(id).await;
            }
            tracing::info!(user = %id, role = after.role.as_str(), status = after.status.as_str(), "account changed");
        }
        Ok(after)
    }

    /// A suspended account spends nothing more: its queued and running jobs stop.
    async fn stop_jobs_of(&self, user: UserId) {
        for status in [JobStatus::Queued, JobStatus::Running] {
            let filter = JobFilter { project: None, status: Some(status) };
            let mut after = None;
            loop {
                let page = match self.ports.generation.list(user, filter, after, 100).await {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(user = %user, error = %err, "could not list a suspended user's jobs");
                        break;
                    }
                };
                for job in &page.items {
                    if let Err(err) = self.ports.generation.cancel(Some(user), job.id).await {
                        tracing::warn!(job = %job.id, error = %err, "could not stop a suspended user's job");
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }

    /// Suspends or reactivates an account (operator command); `false` when there is no such user.
    ///
    /// # Errors
    /// [`AdminError::Refused`] or storage.
    pub async fn set_status(&self, user_id: UserId, status: UserStatus) -> Result<bool, AdminError> {
        match self.change_user(&Actor::cli(), user_id, UserPatch { role: None, status: Some(status) }).await {
            Ok(_) => Ok(true),
            Err(AdminError::UserNotFound) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Changes a role (operator command).
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn set_role(&self, user_id: UserId, role: Role) -> Result<(), AdminError> {
        self.change_user(&Actor::cli(), user_id, UserPatch { role: Some(role), status: None }).await.map(|_| ())
    }

    /// Creates (or promotes) an administrator with a password: the operator's way
    /// to the first admin account (`devora-server create-admin`). Audited as `cli`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create_admin(&self, email: Email, password: Password, name: UserName) -> Result<User, AdminError> {
        let ports = &self.ports.auth.ports;
        let now = ports.clock.now();
        let hash = ports.hasher.hash(&password).await.map_err(InternalError::from)?;
        if let Some(existing) = ports.users.find_by_email(&email).await? {
            ports.users.set_password_hash(existing.id, Some(&hash), now).await?;
            ports.users.mark_email_verified(existing.id, now).await?;
            let patch = UserPatch { role: Some(Role::Admin), status: Some(UserStatus::Active) };
            return self.change_user(&Actor::cli(), existing.id, patch).await;
        }
        // Created as a user, then promoted: the promotion is the change the audit
        // log records (with its entry, in one transaction).
        let created = ports
            .users
            .create(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: Some(hash),
                role: Role::User,
                email_verified: true,
                now,
            })
            .await;
        let user = match created {
            Ok(user) => user,
            Err(CreateUserError::DuplicateEmail) => {
                return Err(InternalError::from(StorageError::new("created concurrently; run again")).into());
            }
            Err(CreateUserError::Storage(err)) => return Err(err.into()),
        };
        self.change_user(&Actor::cli(), user.id, UserPatch { role: Some(Role::Admin), status: None }).await
    }
}
