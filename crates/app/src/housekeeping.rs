//! Housekeeping: purging what outlived its use, run periodically by the server.

use std::sync::Arc;
use std::time::Duration;

use devora_ports::{Clock, ExpiredRecords, PurgeReport};

use crate::InternalError;

#[derive(Clone)]
pub struct Housekeeping {
    records: Arc<dyn ExpiredRecords>,
    clock: Arc<dyn Clock>,
    /// How long an idempotency key is remembered (its replays stay possible).
    idempotency_retention: Duration,
}

impl Housekeeping {
    #[must_use]
    pub fn new(records: Arc<dyn ExpiredRecords>, clock: Arc<dyn Clock>, idempotency_retention: Duration) -> Self {
        Self { records, clock, idempotency_retention }
    }

    /// One purge: ended sessions, expired sign-in state, idempotency keys past
    /// their retention.
    ///
    /// # Errors
    /// Storage failures (the next run tries again).
    pub async fn purge(&self) -> Result<PurgeReport, InternalError> {
        let now = self.clock.now();
        let retention = chrono::Duration::from_std(self.idempotency_retention).unwrap_or(chrono::Duration::days(1));
        let report = self.records.purge_expired(now, now - retention).await?;
        tracing::info!(
            sessions = report.sessions,
            pending_sign_ins = report.pending_sign_ins,
            login_codes = report.login_codes,
            idempotency_keys = report.idempotency_keys,
            "purged expired records"
        );
        Ok(report)
    }
}
