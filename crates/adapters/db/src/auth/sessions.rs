//! Sessions and their refresh-token families.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{RefreshUse, SessionId, UserId, UserStatus, refresh_use};
use devora_ports::{NewSession, Rotation, Session, SessionRepository, SignInProof, StorageError};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::session_from_row;
use crate::Database;
use crate::entity::{oauth_identities, refresh_tokens, sessions, users};
use crate::errors::storage;

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

pub(crate) async fn revoke_ids(
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
        let decision = refresh_use(token.spent_at, now, grace);
        match decision {
            // One live token per family: the presented one and any sibling issued
            // inside a grace are spent, so a replayed token cannot keep a branch of
            // the family alive unnoticed.
            RefreshUse::Rotate => {
                refresh_tokens::Entity::update_many()
                    .col_expr(refresh_tokens::Column::SpentAt, Expr::value(Some(now)))
                    .filter(refresh_tokens::Column::SessionId.eq(session.id.as_uuid()))
                    .filter(refresh_tokens::Column::SpentAt.is_null())
                    .exec(&txn)
                    .await
                    .map_err(storage)?;
            }
            RefreshUse::WithinGrace => {}
            RefreshUse::Reuse => {
                revoke_ids(&txn, &[session.id.as_uuid()], now).await?;
                txn.commit().await.map_err(storage)?;
                return Ok(Rotation::ReuseDetected(session.id));
            }
        }
        add_refresh_token(&txn, new_hash, session.id, now).await?;
        touch_session(&txn, session.id, now).await?;
        txn.commit().await.map_err(storage)?;
        let session = Session { last_used_at: now, ..session };
        Ok(if decision == RefreshUse::Rotate { Rotation::Rotated(session) } else { Rotation::WithinGrace(session) })
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
