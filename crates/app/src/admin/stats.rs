//! The dashboard's counts, cached briefly on each node (they are read often
//! and change slowly; a few seconds old is fine).

use std::time::{Duration, Instant};

use devora_ports::admin::AdminStats;
use tokio::sync::Mutex;

use super::{AdminError, AdminService};

/// How long a node serves the same counts.
const FRESH_FOR: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct StatsCache(Mutex<Option<(Instant, AdminStats)>>);

impl AdminService {
    /// The service's counts (cached for 10 s).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn stats(&self) -> Result<AdminStats, AdminError> {
        // Held while counting: concurrent readers wait for one count, not run ten.
        let mut cached = self.stats.0.lock().await;
        if let Some((at, stats)) = cached.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(stats.clone());
        }
        let stats = self.ports.store.stats(self.ports.clock.now()).await?;
        *cached = Some((Instant::now(), stats.clone()));
        Ok(stats)
    }
}
