//! Users, sessions with their refresh-token families, and OAuth sign-in records.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, ExternalIdentity, IdentityProviderId, Role, SessionId, User, UserId, UserName, UserStatus};
use devora_ports::{
    CreateUserError, IssuedLoginCode, NewSession, NewUser, PendingSignIn, Rotation, Session, SessionRepository,
    SignInProof, SignInStore, StorageError, UserRepository,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PrimaryKeyTrait,
    QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};

use crate::Database;
use crate::entity::{login_codes, oauth_identities, oauth_pending, refresh_tokens, sessions, users};
use crate::errors::{corrupt, storage};

fn user_from_row(row: users::Model) -> Result<User, StorageError> {
    Ok(User {
        id: UserId::from_uuid(row.id),
        email: Email::parse(&row.email).map_err(|_| corrupt("users.email"))?,
        name: UserName::parse(&row.name).map_err(|_| corrupt("users.name"))?,
        role: Role::parse(&row.role).ok_or_else(|| corrupt("users.role"))?,
        status: UserStatus::parse(&row.status).ok_or_else(|| corrupt("users.status"))?,
        email_verified: row.email_verified,
        has_password: row.password_hash.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn session_from_row(row: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        user_agent: row.user_agent,
        ip: row.ip,
    }
}

#[async_trait]
impl UserRepository for Database {
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError> {
        let row = users::ActiveModel {
            id: Set(user.id.as_uuid()),
            email: Set(user.email.as_str().to_owned()),
            name: Set(user.name.as_str().to_owned()),
            password_hash: Set(user.password_hash),
            role: Set(user.role.as_str().to_owned()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            email_verified: Set(user.email_verified),
            created_at: Set(user.now),
            updated_at: Set(user.now),
        };
        match row.insert(self.connection()).await {
            Ok(row) => Ok(user_from_row(row)?),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(CreateUserError::DuplicateEmail)
            }
            Err(err) => Err(CreateUserError::Storage(storage(err))),
        }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StorageError> {
        users::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(user_from_row)
            .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StorageError> {
        users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(user_from_row)
            .transpose()
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, Option<String>)>, StorageError> {
        let Some(row) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.connection())
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.clone();
        Ok(Some((user_from_row(row)?, hash)))
    }

    async fn set_role(&self, id: UserId, role: Role, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn set_status(&self, id: UserId, status: UserStatus, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::Status, Expr::value(status.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StorageError> {
        Ok(users::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .and_then(|u| u.password_hash))
    }

    async fn update_name(&self, id: UserId, name: &UserName, now: DateTime<Utc>) -> Result<Option<User>, StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::Name, Expr::value(name.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        self.find_by_id(id).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(Some(hash.to_owned())))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .filter(users::Column::PasswordHash.eq(expected))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_password_hash(&self, id: UserId, hash: Option<&str>, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.map(str::to_owned)))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn mark_email_verified(&self, id: UserId, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::EmailVerified, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }
}

async fn add_refresh_token(
    conn: &impl ConnectionTrait,
    hash: &str,
    session_id: SessionId,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    refresh_tokens::ActiveModel {
        token_hash: Set(hash.to_owned()),
        session_id: Set(session_id.as_uuid()),
        created_at: Set(now),
        spent_at: Set(None),
    }
    .insert(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

async fn touch_session(conn: &impl ConnectionTrait, id: SessionId, now: DateTime<Utc>) -> Result<(), StorageError> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastUsedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

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

async fn revoke_ids(
    conn: &impl ConnectionTrait,
    ids: &[uuid_alias::Uuid],
    now: DateTime<Utc>,
) -> Result<u64, StorageError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let result = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Some(now)))
        .filter(sessions::Column::Id.is_in(ids.iter().copied()))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(storage)?;
    Ok(result.rows_affected)
}

mod uuid_alias {
    pub use sea_orm::prelude::Uuid;
}

#[async_trait]
impl SessionRepository for Database {
    async fn create(&self, s: NewSession) -> Result<Option<Session>, StorageError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // The transaction's first statement writes the account's row, on the
        // condition that it still has the password the sign-in checked. A password
        // change or takeover (which writes the same row, then revokes the sessions
        // it finds) either lands first, and this finds no row, or waits for this
        // commit, and then finds and revokes this session.
        let mut lock = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::col(users::Column::UpdatedAt))
            .filter(users::Column::Id.eq(s.user_id.as_uuid()))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()));
        match &s.proof {
            SignInProof::Password(hash) => lock = lock.filter(users::Column::PasswordHash.eq(hash.as_str())),
            SignInProof::Identity { provider, subject } => {
                let linked = Query::select()
                    .expr(Expr::val(1))
                    .from(oauth_identities::Entity)
                    .and_where(oauth_identities::Column::Provider.eq(provider.as_str()))
                    .and_where(oauth_identities::Column::Subject.eq(subject.as_str()))
                    .and_where(oauth_identities::Column::UserId.eq(s.user_id.as_uuid()))
                    .to_owned();
                lock = lock.filter(Expr::exists(linked));
            }
            SignInProof::NewAccount => {}
        }
        if lock.exec(&txn).await.map_err(storage)?.rows_affected == 0 {
            return Ok(None);
        }
        // Housekeeping, under the same lock: the account's sessions that ended
        // (expired, or revoked over a day ago) go, with their refresh tokens
        // (cascade), so neither table grows with every sign-in and rotation.
        let ended = Condition::any()
            .add(sessions::Column::ExpiresAt.lt(s.now))
            .add(sessions::Column::RevokedAt.lt(s.now - chrono::Duration::days(1)));
        sessions::Entity::delete_many()
            .filter(sessions::Column::UserId.eq(s.user_id.as_uuid()))
            .filter(ended)
            .exec(&txn)
            .await
            .map_err(storage)?;
        let row = sessions::ActiveModel {
            id: Set(s.id.as_uuid()),
            user_id: Set(s.user_id.as_uuid()),
            created_at: Set(s.now),
            last_used_at: Set(s.now),
            expires_at: Set(s.expires_at),
            revoked_at: Set(None),
            user_agent: Set(s.user_agent),
            ip: Set(s.ip),
        }
        .insert(&txn)
        .await
        .map_err(storage)?;
        add_refresh_token(&txn, &s.refresh_hash, s.id, s.now).await?;
        txn.commit().await.map_err(storage)?;
        Ok(Some(session_from_row(row)))
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, StorageError> {
        Ok(sessions::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(session_from_row))
    }

    async fn rotate(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        grace: Duration,
        idle_timeout: Duration,
    ) -> Result<Rotation, StorageError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // The transaction's first statement writes the family's session row, so
        // presentations of one family's tokens are decided one after another, each
        // seeing what the one before did (and on SQLite the write lock is taken at
        // once, with no deferred-transaction upgrade).
        let family = Query::select()
            .column(refresh_tokens::Column::SessionId)
            .from(refresh_tokens::Entity)
            .and_where(refresh_tokens::Column::TokenHash.eq(presented_hash))
            .to_owned();
        let locked = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastUsedAt, Expr::col(sessions::Column::LastUsedAt))
            .filter(sessions::Column::Id.in_subquery(family))
            .exec(&txn)
            .await
            .map_err(storage)?;
        if locked.rows_affected == 0 {
            return Ok(Rotation::Invalid);
        }
        let Some(token) =
            refresh_tokens::Entity::find_by_id(presented_hash.to_owned()).one(&txn).await.map_err(storage)?
        else {
            return Ok(Rotation::Invalid);
        };
        let Some(session) = sessions::Entity::find_by_id(token.session_id).one(&txn).await.map_err(storage)? else {
            return Ok(Rotation::Invalid);
        };
        let session = session_from_row(session);
        if !session.is_alive(now, idle_timeout) {
            return Ok(Rotation::Invalid);
        }
        let grace = chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
        let fresh = token.spent_at.is_none();
        match token.spent_at {
            // One live token per family: the presented one and any sibling issued
            // inside a grace are spent, so a replayed token cannot keep a branch of
            // the family alive unnoticed.
            None => {
                refresh_tokens::Entity::update_many()
                    .col_expr(refresh_tokens::Column::SpentAt, Expr::value(Some(now)))
                    .filter(refresh_tokens::Column::SessionId.eq(session.id.as_uuid()))
                    .filter(refresh_tokens::Column::SpentAt.is_null())
                    .exec(&txn)
                    .await
                    .map_err(storage)?;
            }
            // Spent a moment ago by a concurrent tab: that tab's refresh stands, and
            // this one gets its own token.
            Some(spent_at) if now - spent_at <= grace => {}
            // Spent long ago: a stolen copy, or the thief's. The family ends.
            Some(_) => {
                revoke_ids(&txn, &[session.id.as_uuid()], now).await?;
                txn.commit().await.map_err(storage)?;
                return Ok(Rotation::ReuseDetected(session.id));
            }
        }
        add_refresh_token(&txn, new_hash, session.id, now).await?;
        touch_session(&txn, session.id, now).await?;
        txn.commit().await.map_err(storage)?;
        let session = Session { last_used_at: now, ..session };
        Ok(if fresh { Rotation::Rotated(session) } else { Rotation::WithinGrace(session) })
    }

    async fn list_alive(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StorageError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .order_by_desc(sessions::Column::CreatedAt)
            .all(self.connection())
            .await
            .map_err(storage)?
            .into_iter()
            .map(session_from_row)
            .collect())
    }

    async fn revoke(&self, id: SessionId, user_id: UserId, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Some(now)))
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::UserId.eq(user_id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_by_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<SessionId>, StorageError> {
        let Some(token) =
            refresh_tokens::Entity::find_by_id(hash.to_owned()).one(self.connection()).await.map_err(storage)?
        else {
            return Ok(None);
        };
        revoke_ids(self.connection(), &[token.session_id], now).await?;
        Ok(Some(SessionId::from_uuid(token.session_id)))
    }

    async fn revoke_all(
        &self,
        user_id: UserId,
        except: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StorageError> {
        // Live sessions only: expired ones are dead already, and leaving them to the
        // purge at sign-in keeps the two statements' rows apart (no lock-order
        // deadlock between them on Postgres).
        let mut query = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now));
        if let Some(except) = except {
            query = query.filter(sessions::Column::Id.ne(except.as_uuid()));
        }
        let ids: Vec<_> = query.all(self.connection()).await.map_err(storage)?.into_iter().map(|s| s.id).collect();
        revoke_ids(self.connection(), &ids, now).await?;
        Ok(ids.into_iter().map(SessionId::from_uuid).collect())
    }
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
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                match self.find_identity(identity.provider, &identity.subject).await? {
                    Some(existing) if existing == user_id => Ok(()),
                    _ => Err(StorageError::new("identity is linked to another user")),
                }
            }
            Err(err) => Err(storage(err)),
        }
    }
}
