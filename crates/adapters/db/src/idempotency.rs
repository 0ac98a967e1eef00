//! Idempotency records: claimed by the first request under a key, completed
//! with what it created, replayed to its retries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::UserId;
use devora_ports::{CreatedResource, IdempotencyClaim, IdempotencyStore, StorageError};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::Database;
use crate::entity::idempotency_keys;
use crate::errors::{storage, unique_violation};

/// `status_code` marks a completed record. The column predates `CreatedResource`
/// and held the create's status, which was always 201; completed records keep
/// writing that value so old and new rows read alike.
const COMPLETED: i32 = 201;

#[async_trait]
impl IdempotencyStore for Database {
    async fn claim(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_before: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StorageError> {
        // Housekeeping: records past their retention go (indexed on created_at).
        idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::CreatedAt.lt(expires_before))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        for _ in 0..3 {
            let row = idempotency_keys::ActiveModel {
                user_id: Set(user.as_uuid()),
                key: Set(key.to_owned()),
                fingerprint: Set(fingerprint.to_owned()),
                status_code: Set(None),
                response_body: Set(None),
                location: Set(None),
                created_at: Set(now),
            };
            match row.insert(self.connection()).await {
                Ok(_) => return Ok(IdempotencyClaim::Claimed(now)),
                Err(err) if unique_violation(&err) => {}
                Err(err) => return Err(storage(err)),
            }
            let Some(existing) = idempotency_keys::Entity::find_by_id((user.as_uuid(), key.to_owned()))
                .one(self.connection())
                .await
                .map_err(storage)?
            else {
                continue; // released meanwhile: claim again
            };
            let abandoned = existing.status_code.is_none() && existing.created_at < stale_before;
            if existing.created_at < expires_before || abandoned {
                // Expired, or abandoned in flight: forget that exact record and claim afresh.
                idempotency_keys::Entity::delete_many()
                    .filter(idempotency_keys::Column::UserId.eq(user.as_uuid()))
                    .filter(idempotency_keys::Column::Key.eq(key))
                    .filter(idempotency_keys::Column::CreatedAt.eq(existing.created_at))
                    .exec(self.connection())
                    .await
                    .map_err(storage)?;
                continue;
            }
            if existing.fingerprint != fingerprint {
                return Ok(IdempotencyClaim::Mismatch);
            }
            return Ok(match (existing.status_code, existing.response_body) {
                (Some(_), Some(representation)) => {
                    IdempotencyClaim::Completed(CreatedResource { representation, location: existing.location })
                }
                _ => IdempotencyClaim::InFlight,
            });
        }
        Ok(IdempotencyClaim::InFlight)
    }

    async fn complete(
        &self,
        user: UserId,
        key: &str,
        claimed_at: DateTime<Utc>,
        created: &CreatedResource,
    ) -> Result<bool, StorageError> {
        let result = idempotency_keys::Entity::update_many()
            .col_expr(idempotency_keys::Column::StatusCode, Expr::value(COMPLETED))
            .col_expr(idempotency_keys::Column::ResponseBody, Expr::value(created.representation.clone()))
            .col_expr(idempotency_keys::Column::Location, Expr::value(created.location.clone()))
            .filter(idempotency_keys::Column::UserId.eq(user.as_uuid()))
            .filter(idempotency_keys::Column::Key.eq(key))
            .filter(idempotency_keys::Column::CreatedAt.eq(claimed_at))
            .filter(idempotency_keys::Column::StatusCode.is_null())
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn release(&self, user: UserId, key: &str, claimed_at: DateTime<Utc>) -> Result<(), StorageError> {
        idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::UserId.eq(user.as_uuid()))
            .filter(idempotency_keys::Column::Key.eq(key))
            .filter(idempotency_keys::Column::CreatedAt.eq(claimed_at))
            .filter(idempotency_keys::Column::StatusCode.is_null())
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }
}
