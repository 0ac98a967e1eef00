//! Watching a job: its log from a given sequence number, then what comes next as
//! it comes, on whichever node the job runs. The reader subscribes to signals
//! before it reads the log, and reads by sequence number, so nothing is lost or
//! repeated at the seam between replay and live; a missed signal only costs one
//! poll interval.

use std::time::Duration;

use devora_domain::{JobEvent, JobId};
use devora_ports::generation::JobSignal;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::{GenerationError, GenerationService};

/// Most events handed out at once.
const BATCH: u32 = 200;

pub struct EventFeed {
    service: GenerationService,
    job: JobId,
    after: u64,
    signals: Receiver<JobSignal>,
    ended: bool,
    finished: bool,
}

impl GenerationService {
    /// A feed of the job's events after `after` (0: from the first). The caller
    /// has checked the job is theirs; `finished` says it had ended when they did
    /// (its log is complete, so a feed past its end ends at once).
    #[must_use]
    pub fn feed(&self, job: JobId, after: u64, finished: bool) -> EventFeed {
        EventFeed { service: self.clone(), job, after, signals: self.ports.signals.subscribe(), ended: false, finished }
    }
}

impl EventFeed {
    /// Whether the job's `end` event was handed out.
    #[must_use]
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The next events, waiting up to `wait` for some; empty when none came in
    /// time (or the job has ended), so the caller can send a heartbeat.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn next_batch(&mut self, wait: Duration) -> Result<Vec<JobEvent>, GenerationError> {
        if self.ended {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        let poll = self.service.config.poll_interval;
        loop {
            let events = self.service.ports.jobs.events_after(self.job, self.after, BATCH).await?;
            if let Some(last) = events.last() {
                self.after = last.seq;
                self.ended = events.iter().any(|e| e.payload.is_end());
                return Ok(events);
            }
            if self.finished {
                self.ended = true;
                return Ok(Vec::new());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = tokio::time::sleep((deadline - now).min(poll));
            tokio::pin!(nap);
            loop {
                tokio::select! {
                    () = &mut nap => break,
                    signal = self.signals.recv() => match signal {
                        Ok(JobSignal::Events { job, seq }) if job == self.job && seq > self.after => break,
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => break,
                        // No more signals: polling alone from here.
                        Err(RecvError::Closed) => { (&mut nap).await; break }
                    },
                }
            }
        }
    }
}
