//! Sessions: refresh-token rotation, access-token checks, listing and revoking.

use chrono::{DateTime, Utc};
use devora_domain::{Role, SessionId, User, UserId, UserName, UserStatus};
use devora_ports::{AccessClaims, Rotation, Session, TokenError};

use super::{
    AuthService, AuthenticateError, Principal, RefreshError, SignedIn, TokenPair, random_token, secret_hash,
    session_cache_key,
};
use crate::InternalError;

impl AuthService {
    /// Spends a refresh token for a new pair.
    ///
    /// # Errors
    /// [`RefreshError`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<SignedIn, RefreshError> {
        let now = self.ports.clock.now();
        let new_token = random_token();
        let rotation = self
            .ports
            .sessions
            .rotate(
                &secret_hash(refresh_token),
                &secret_hash(&new_token),
                now,
                self.config.refresh_grace,
                self.config.session_idle_timeout,
            )
            .await?;
        let session = match rotation {
            Rotation::Rotated(session) | Rotation::WithinGrace(session) => session,
            Rotation::ReuseDetected(session_id) => {
                tracing::warn!(session = %session_id, "refresh token reuse: session revoked");
                metrics::counter!("auth_refresh_reuse_total").increment(1);
                self.forget_sessions(&[session_id]).await;
                return Err(RefreshError::Reused);
            }
            Rotation::Invalid => return Err(RefreshError::Invalid),
        };
        let Some(user) = self.ports.users.find_by_id(session.user_id).await? else {
            return Err(RefreshError::Invalid);
        };
        if user.status == UserStatus::Suspended {
            return Err(RefreshError::Suspended);
        }
        let (access_token, expires_in) = self.ports.tokens.issue(user.id, session.id, user.role, now)?;
        Ok(SignedIn { user, tokens: TokenPair { access_token, refresh_token: new_token, expires_in } })
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are not an error.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), InternalError> {
        let now = self.ports.clock.now();
        if let Some(id) = self.ports.sessions.revoke_by_refresh(&secret_hash(refresh_token), now).await? {
            self.forget_sessions(&[id]).await;
        }
        Ok(())
    }

    /// Checks an access token and, through the cache, that its session is alive and
    /// its user active, so a revocation takes effect on the next request.
    ///
    /// # Errors
    /// [`AuthenticateError`].
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self.verify_access_token(access_token)?;
        self.authenticate_claims(&claims).await
    }

    /// Checks an access token's signature, algorithm, issuer, audience and expiry,
    /// without the session lookup: enough for a rate-limit key, never for access.
    ///
    /// # Errors
    /// [`AuthenticateError::Expired`] or [`AuthenticateError::Invalid`].
    pub fn verify_access_token(&self, access_token: &str) -> Result<AccessClaims, AuthenticateError> {
        self.ports.tokens.verify(access_token).map_err(|err| match err {
            TokenError::Expired => AuthenticateError::Expired,
            TokenError::Invalid => AuthenticateError::Invalid,
        })
    }

    /// The second half of [`AuthService::authenticate`], for claims already
    /// verified: the session must be alive and its user active (through the cache).
    ///
    /// # Errors
    /// [`AuthenticateError::Revoked`], or storage failures.
    /// The cached read [`Self::authenticate_claims`] will make for `claims`, for
    /// the request gate to confirm ahead of the request.
    #[must_use]
    pub fn session_read(&self, claims: &AccessClaims) -> devora_ports::VersionedRead {
        let scope = session_cache_key(claims.session_id);
        self.reads.read_of(&scope, &scope)
    }

    pub async fn authenticate_claims(&self, claims: &AccessClaims) -> Result<Principal, AuthenticateError> {
        let scope = session_cache_key(claims.session_id);
        let ports = self.ports.clone();
        let idle = self.config.session_idle_timeout;
        let session_id = claims.session_id;
        // The state: `1|user|role|absolute end (unix)` when usable, else `0`.
        let state: String = self
            .reads
            .get(&scope, &scope, self.config.session_cache_ttl, move || async move {
                let now = ports.clock.now();
                let Some(session) = ports.sessions.find(session_id).await? else { return Ok("0".to_owned()) };
                if !session.is_alive(now, idle) {
                    return Ok("0".to_owned());
                }
                Ok(match ports.users.find_by_id(session.user_id).await? {
                    Some(user) if user.status == UserStatus::Active => {
                        format!("1|{}|{}|{}", user.id, user.role.as_str(), session.expires_at.timestamp())
                    }
                    _ => "0".to_owned(),
                })
            })
            .await?;
        match parse_session_state(state.as_bytes(), self.ports.clock.now()) {
            Some((user_id, role)) if user_id == claims.user_id => Ok(Principal { user_id, session_id, role }),
            _ => Err(AuthenticateError::Revoked),
        }
    }

    /// # Errors
    /// Storage failures; a vanished user is reported as revoked.
    pub async fn me(&self, principal: &Principal) -> Result<User, AuthenticateError> {
        self.ports.users.find_by_id(principal.user_id).await?.ok_or(AuthenticateError::Revoked)
    }

    /// # Errors
    /// Storage failures; a vanished user is reported as revoked.
    pub async fn update_name(&self, principal: &Principal, name: &UserName) -> Result<User, AuthenticateError> {
        let now = self.ports.clock.now();
        self.ports.users.update_name(principal.user_id, name, now).await?.ok_or(AuthenticateError::Revoked)
    }

    /// # Errors
    /// Storage failures.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, InternalError> {
        let now = self.ports.clock.now();
        let sessions = self.ports.sessions.list_alive(principal.user_id, now).await?;
        Ok(sessions.into_iter().filter(|s| s.is_alive(now, self.config.session_idle_timeout)).collect())
    }

    /// Revokes one of the caller's sessions; `false` when it has no such session.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn revoke_session(&self, principal: &Principal, id: SessionId) -> Result<bool, InternalError> {
        let now = self.ports.clock.now();
        let revoked = self.ports.sessions.revoke(id, principal.user_id, now).await?;
        if revoked {
            self.forget_sessions(&[id]).await;
        }
        Ok(revoked)
    }
}

fn parse_session_state(raw: &[u8], now: DateTime<Utc>) -> Option<(UserId, Role)> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split('|');
    if parts.next()? != "1" {
        return None;
    }
    let user_id = UserId::parse(parts.next()?)?;
    let role = Role::parse(parts.next()?)?;
    let ends: i64 = parts.next()?.parse().ok()?;
    (now.timestamp() < ends).then_some((user_id, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_session_states_round_trip_until_the_session_ends() {
        let id = UserId::new();
        let now = Utc::now();
        let ends = now.timestamp() + 60;
        assert_eq!(parse_session_state(format!("1|{id}|admin|{ends}").as_bytes(), now), Some((id, Role::Admin)));
        assert_eq!(parse_session_state(format!("1|{id}|admin|{}", now.timestamp()).as_bytes(), now), None);
        assert_eq!(parse_session_state(b"0", now), None);
        assert_eq!(parse_session_state(b"1|nope|user|9999999999", now), None);
    }
}
