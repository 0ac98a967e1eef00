//! The periodic purge of records that outlived their use.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_ports::{ExpiredRecords, PurgeReport, StorageError};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::Database;
use crate::entity::{idempotency_keys, login_codes, oauth_pending, sessions};
use crate::errors::storage;

#[async_trait]
impl ExpiredRecords for Database {
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        idempotency_before: DateTime<Utc>,
    ) -> Result<PurgeReport, StorageError> {
        let conn = self.connection();
        // Each statement on its own: one kind's purge never holds another's locks.
        // Ended sessions only (the rows `revoke_all` and sign-ins write are live),
        // their refresh tokens going with them (cascade).
        let ended = Condition::any()
            .add(sessions::Column::ExpiresAt.lt(now))
            .add(sessions::Column::RevokedAt.lt(now - chrono::Duration::days(1)));
        let sessions = sessions::Entity::delete_many().filter(ended).exec(conn).await.map_err(storage)?;
        let pending = oauth_pending::Entity::delete_many()
            .filter(oauth_pending::Column::ExpiresAt.lte(now))
            .exec(conn)
            .await
            .map_err(storage)?;
        let codes = login_codes::Entity::delete_many()
            .filter(login_codes::Column::ExpiresAt.lte(now))
            .exec(conn)
            .await
            .map_err(storage)?;
        let keys = idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::CreatedAt.lt(idempotency_before))
            .exec(conn)
            .await
            .map_err(storage)?;
        Ok(PurgeReport {
            sessions: sessions.rows_affected,
            pending_sign_ins: pending.rows_affected,
            login_codes: codes.rows_affected,
            idempotency_keys: keys.rows_affected,
        })
    }
}
