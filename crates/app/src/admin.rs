//! Operator operations on accounts: suspend or reactivate, change a role, create
//! the first administrator. The operator CLI uses them today; the admin API
//! builds on them.

use devora_domain::{Email, Password, Role, User, UserId, UserName, UserStatus};
use devora_ports::{CreateUserError, NewUser, StorageError};

use crate::InternalError;
use crate::auth::AuthService;

/// Account administration over the accounts' ports.
#[derive(Clone)]
pub struct AdminService {
    auth: AuthService,
}

impl AdminService {
    #[must_use]
    pub fn new(auth: AuthService) -> Self {
        Self { auth }
    }

    /// Suspends or reactivates an account. Suspension revokes every session at
    /// once, on every node.
    ///
    /// # Errors
    /// Storage failures; `false` when there is no such user.
    pub async fn set_status(&self, user_id: UserId, status: UserStatus) -> Result<bool, InternalError> {
        let ports = &self.auth.ports;
        let now = ports.clock.now();
        if !ports.users.set_status(user_id, status, now).await? {
            return Ok(false);
        }
        if status == UserStatus::Suspended {
            let revoked = ports.sessions.revoke_all(user_id, None, now).await?;
            self.auth.forget_sessions(&revoked).await;
        }
        Ok(true)
    }

    /// Changes a role; the user's live sessions see it on their next request.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn set_role(&self, user_id: UserId, role: Role) -> Result<(), InternalError> {
        self.auth.change_role(user_id, role).await
    }

    /// Creates (or promotes) an administrator with a password: the operator's way
    /// to the first admin account (`devora-server create-admin`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create_admin(&self, email: Email, password: Password, name: UserName) -> Result<User, InternalError> {
        let ports = &self.auth.ports;
        let now = ports.clock.now();
        let hash = ports.hasher.hash(&password).await?;
        if let Some(existing) = ports.users.find_by_email(&email).await? {
            ports.users.set_password_hash(existing.id, Some(&hash), now).await?;
            ports.users.mark_email_verified(existing.id, now).await?;
            self.set_role(existing.id, Role::Admin).await?;
            return ports.users.find_by_id(existing.id).await?.ok_or_else(|| StorageError::new("user vanished").into());
        }
        let created = ports
            .users
            .create(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: Some(hash),
                role: Role::Admin,
                email_verified: true,
                now,
            })
            .await;
        match created {
            Ok(user) => Ok(user),
            Err(CreateUserError::DuplicateEmail) => Err(StorageError::new("created concurrently; run again").into()),
            Err(CreateUserError::Storage(err)) => Err(err.into()),
        }
    }
}
