//! Sign-in state: pending OAuth sign-ins, login codes, linked identities.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{ExternalIdentity, IdentityProviderId, UserId};
use devora_ports::{IssuedLoginCode, PendingSignIn, SignInStore, StorageError};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryFilter,
};

use crate::Database;
use crate::entity::{login_codes, oauth_identities, oauth_pending};
use crate::errors::{corrupt, storage, unique_violation};

/// Reads the row keyed `key` and deletes it; the row only for the caller whose
/// delete removed it, so of a replayed or concurrent take exactly one wins.
async fn take_once<E>(conn: &impl ConnectionTrait, key: &str) -> Result<Option<E::Model>, StorageError>
where
    E: EntityTrait,
    String: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    let Some(row) = E::find_by_id(key.to_owned()).one(conn).await.map_err(storage)? else { return Ok(None) };
    let deleted = E::delete_by_id(key.to_owned()).exec(conn).await.map_err(storage)?.rows_affected;
    Ok((deleted == 1).then_some(row))
}

#[async_trait]
impl SignInStore for Database {
    async fn put_pending(
        &self,
        state_hash: &str,
        pending: PendingSignIn,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        // Housekeeping: abandoned sign-ins go when the next one starts.
        oauth_pending::Entity::delete_many()
            .filter(oauth_pending::Column::ExpiresAt.lt(now))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        oauth_pending::ActiveModel {
            state_hash: Set(state_hash.to_owned()),
            provider: Set(pending.provider.as_str().to_owned()),
            pkce_verifier: Set(pending.pkce_verifier),
            nonce: Set(pending.nonce),
            redirect_to: Set(pending.redirect_to),
            client_challenge: Set(Some(pending.client_challenge)),
            created_at: Set(now),
            expires_at: Set(pending.expires_at),
        }
        .insert(self.connection())
        .await
        .map_err(storage)?;
        Ok(())
    }

    async fn take_pending(&self, state_hash: &str, now: DateTime<Utc>) -> Result<Option<PendingSignIn>, StorageError> {
        let Some(row) = take_once::<oauth_pending::Entity>(self.connection(), state_hash).await? else {
            return Ok(None);
        };
        if row.expires_at <= now {
            return Ok(None);
        }
        Ok(Some(PendingSignIn {
            provider: IdentityProviderId::parse(&row.provider).ok_or_else(|| corrupt("oauth_pending.provider"))?,
            pkce_verifier: row.pkce_verifier,
            nonce: row.nonce,
            redirect_to: row.redirect_to,
            // Sign-ins started before challenges existed cannot be finished.
            client_challenge: row.client_challenge.unwrap_or_default(),
            expires_at: row.expires_at,
        }))
    }

    async fn put_login_code(
        &self,
        code_hash: &str,
        issued: &IssuedLoginCode,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        login_codes::Entity::delete_many()
            .filter(login_codes::Column::ExpiresAt.lt(now))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        login_codes::ActiveModel {
            code_hash: Set(code_hash.to_owned()),
            user_id: Set(issued.user_id.as_uuid()),
            client_challenge: Set(Some(issued.client_challenge.clone())),
            provider: Set(Some(issued.provider.as_str().to_owned())),
            subject: Set(Some(issued.subject.clone())),
            created_at: Set(now),
            expires_at: Set(expires_at),
        }
        .insert(self.connection())
        .await
        .map_err(storage)?;
        Ok(())
    }

    async fn take_login_code(
        &self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IssuedLoginCode>, StorageError> {
        let Some(row) = take_once::<login_codes::Entity>(self.connection(), code_hash).await? else {
            return Ok(None);
        };
        if row.expires_at <= now {
            return Ok(None);
        }
        // Codes issued before identities were recorded with them cannot be traded.
        let (Some(provider), Some(subject)) = (row.provider, row.subject) else { return Ok(None) };
        Ok(Some(IssuedLoginCode {
            user_id: UserId::from_uuid(row.user_id),
            client_challenge: row.client_challenge.unwrap_or_default(),
            provider: IdentityProviderId::parse(&provider).ok_or_else(|| corrupt("login_codes.provider"))?,
            subject,
        }))
    }

    async fn forget_login_codes(&self, user_id: UserId) -> Result<(), StorageError> {
        login_codes::Entity::delete_many()
            .filter(login_codes::Column::UserId.eq(user_id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn find_identity(&self, provider: IdentityProviderId, subject: &str) -> Result<Option<UserId>, StorageError> {
        Ok(oauth_identities::Entity::find_by_id((provider.as_str().to_owned(), subject.to_owned()))
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(|row| UserId::from_uuid(row.user_id)))
    }

    async fn unlink_other_identities(&self, user_id: UserId, keep: &ExternalIdentity) -> Result<(), StorageError> {
        oauth_identities::Entity::delete_many()
            .filter(oauth_identities::Column::UserId.eq(user_id.as_uuid()))
            .filter(
                sea_orm::Condition::any()
                    .add(oauth_identities::Column::Provider.ne(keep.provider.as_str()))
                    .add(oauth_identities::Column::Subject.ne(keep.subject.as_str())),
            )
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn link_identity(
        &self,
        identity: &ExternalIdentity,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let row = oauth_identities::ActiveModel {
            provider: Set(identity.provider.as_str().to_owned()),
            subject: Set(identity.subject.clone()),
            user_id: Set(user_id.as_uuid()),
            email: Set(identity.email.as_str().to_owned()),
            created_at: Set(now),
        };
        match row.insert(self.connection()).await {
            Ok(_) => Ok(()),
            // Linked concurrently by the same sign-in: fine if it is the same user.
            Err(err) if unique_violation(&err) => {
                match self.find_identity(identity.provider, &identity.subject).await? {
                    Some(existing) if existing == user_id => Ok(()),
                    _ => Err(StorageError::new("identity is linked to another user")),
                }
            }
            Err(err) => Err(storage(err)),
        }
    }
}
