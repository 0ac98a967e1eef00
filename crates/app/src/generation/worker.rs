//! The worker pool every node runs: each worker claims the oldest runnable job,
//! runs it, and looks again; idle workers wake on a `queued` signal or poll. The
//! rescuer puts jobs whose lease ran out back in the queue (or fails them), and
//! a sampler keeps the queue's gauges current.

use std::convert::Infallible;
use std::time::Duration;

use devora_ports::generation::JobSignal;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::GenerationService;
use crate::tasks::{StopSignal, Tasks};

/// How often the queue's gauges are sampled and stream tickets purged.
const SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// Starts this node's generation tasks: `workers` job workers when a model is
/// configured, and the rescuer, the gauges and the ticket purge on every node.
pub fn spawn_workers(tasks: &mut Tasks, service: &GenerationService) {
    if service.is_configured() {
        for index in 0..service.config.workers {
            let service = service.clone();
            tasks.spawn("generation-worker", move |stop| work(service, index, stop));
        }
    }
    let rescuer = service.clone();
    let every = (service.config.lease / 3).max(Duration::from_millis(200));
    tasks.spawn_periodic("generation-rescuer", every, move || {
        let service = rescuer.clone();
        async move { service.rescue().await }
    });
    let sampler = service.clone();
    tasks.spawn_periodic("generation-queue-metrics", SAMPLE_EVERY, move || {
        let service = sampler.clone();
        async move { service.sample_metrics().await }
    });
}

async fn work(service: GenerationService, index: usize, mut stop: StopSignal) -> Result<(), Infallible> {
    let worker = format!("{}/{index}", service.config.node_id);
    let mut signals = service.ports.signals.subscribe();
    loop {
        if stop.is_stopped() {
            return Ok(());
        }
        let now = service.ports.clock.now();
        match service.ports.jobs.claim(&worker, service.config.lease, now).await {
            Ok(Some(lease)) => {
                service.run(lease, &worker, stop.clone()).await;
                continue;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(worker, error = %err, "could not look for a job; trying again"),
        }
        tokio::select! {
            () = stop.stopped() => return Ok(()),
            () = tokio::time::sleep(service.config.poll_interval) => {}
            () = queued(&mut signals) => {}
        }
    }
}

/// Resolves on the next `queued` signal (or a lag, which may have hidden one).
async fn queued(signals: &mut Receiver<JobSignal>) {
    loop {
        match signals.recv().await {
            Ok(JobSignal::Queued) | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl GenerationService {
    /// One pass of the rescuer.
    ///
    /// # Errors
    /// Storage failures (the next pass tries again).
    pub async fn rescue(&self) -> Result<(), super::GenerationError> {
        let report = self.ports.jobs.rescue_expired(self.ports.clock.now(), self.config.max_attempts).await?;
        for job in &report.requeued {
            tracing::warn!(job = %job, "job's lease expired; back in the queue");
        }
        for job in &report.failed {
            tracing::error!(job = %job, "job's worker was lost too many times; failed");
            metrics::counter!("devora_generation_jobs_finished_total", "status" => "failed", "code" => "worker-lost")
                .increment(1);
        }
        if !report.requeued.is_empty() {
            self.ports.signals.publish(JobSignal::Queued).await;
        }
        for job in report.requeued.iter().chain(&report.failed).chain(&report.cancelled) {
            self.ports.signals.publish(JobSignal::Events { job: *job, seq: u64::MAX }).await;
        }
        Ok(())
    }

    async fn sample_metrics(&self) -> Result<(), super::GenerationError> {
        let now = self.ports.clock.now();
        let stats = self.ports.jobs.queue_stats(now).await?;
        for status in devora_domain::JobStatus::ALL {
            let count = stats.by_status.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("devora_generation_jobs", "status" => status.as_str()).set(count as f64);
        }
        let age = stats.oldest_queued.map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
        metrics::gauge!("devora_generation_queue_oldest_seconds").set(age);
        if let Err(err) = self.ports.jobs.purge_tickets(now).await {
            tracing::warn!(error = %err, "could not purge expired stream tickets");
        }
        Ok(())
    }
}
