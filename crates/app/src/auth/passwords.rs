//! Password accounts: register, log in, change the password.

use devora_domain::{Email, Password, UserId, UserName, UserStatus};
use devora_ports::{CreateUserError, NewUser, SignInProof, StorageError};

use crate::InternalError;

use super::{AuthService, ChangePasswordError, ClientMeta, LoginError, Principal, RegisterError, SignedIn};

impl AuthService {
    /// Creates an account with a password and signs it in.
    ///
    /// # Errors
    /// [`RegisterError::EmailTaken`].
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        name: UserName,
        meta: &ClientMeta,
    ) -> Result<SignedIn, RegisterError> {
        if self.ports.users.find_by_email(&email).await?.is_some() {
            return Err(RegisterError::EmailTaken);
        }
        let hash = self.ports.hasher.hash(&password).await?;
        let role = self.role_for(&email, false);
        let user = match self
            .ports
            .users
            .create(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: Some(hash),
                role,
                email_verified: false,
                now: self.ports.clock.now(),
            })
            .await
        {
            Ok(user) => user,
            Err(CreateUserError::DuplicateEmail) => return Err(RegisterError::EmailTaken),
            Err(CreateUserError::Storage(err)) => return Err(err.into()),
        };
        let tokens = self
            .start_session(&user, meta, SignInProof::NewAccount)
            .await?
            .ok_or_else(|| InternalError::from(StorageError::new("the new account vanished while signing in")))?;
        Ok(SignedIn { user, tokens })
    }

    /// Checks an email and password. Unknown emails are checked against a dummy
    /// hash, so they answer exactly like wrong passwords, in about the same time.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] or [`LoginError::Suspended`].
    pub async fn login(&self, email: &str, password: &str, meta: &ClientMeta) -> Result<SignedIn, LoginError> {
        let (user, hash) = match Email::parse(email) {
            Ok(email) => self.ports.users.find_credentials(&email).await?.map_or((None, None), |(u, h)| (Some(u), h)),
            Err(_) => (None, None),
        };
        let matches = self.ports.hasher.verify(password, hash.as_deref()).await?;
        let (Some(user), true) = (user, matches) else {
            metrics::counter!("auth_logins_total", "outcome" => "invalid").increment(1);
            return Err(LoginError::InvalidCredentials);
        };
        if user.status == UserStatus::Suspended {
            return Err(LoginError::Suspended);
        }
        // The password changed (or the account was taken over) while it was being
        // checked: the check no longer stands.
        // (A match implies a hash; an empty one would match no account.)
        let proof = SignInProof::Password(hash.unwrap_or_default());
        let Some(tokens) = self.start_session(&user, meta, proof).await? else {
            metrics::counter!("auth_logins_total", "outcome" => "invalid").increment(1);
            return Err(LoginError::InvalidCredentials);
        };
        metrics::counter!("auth_logins_total", "outcome" => "ok").increment(1);
        Ok(SignedIn { user, tokens })
    }

    /// Changes the password and revokes every other session of the user.
    ///
    /// # Errors
    /// [`ChangePasswordError`].
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &Password,
    ) -> Result<(), ChangePasswordError> {
        let Some(hash) = self.ports.users.password_hash(principal.user_id).await? else {
            return Err(ChangePasswordError::NoPassword);
        };
        if !self.ports.hasher.verify(current, Some(&hash)).await? {
            return Err(ChangePasswordError::WrongPassword);
        }
        let new_hash = self.ports.hasher.hash(new).await?;
        let now = self.ports.clock.now();
        // Only over the password just verified: a takeover (or another change)
        // that landed meanwhile is not undone.
        if !self.ports.users.replace_password_hash(principal.user_id, &hash, &new_hash, now).await? {
            return Err(ChangePasswordError::WrongPassword);
        }
        let revoked = self.ports.sessions.revoke_all(principal.user_id, Some(principal.session_id), now).await?;
        self.forget_sessions(&revoked).await;
        Ok(())
    }
}
