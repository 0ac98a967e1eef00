//! Background work the server owns: named tasks, started with it, told to stop
//! when it stops, awaited within the drain timeout. A task's failure or panic is
//! logged with its name and ends only that task; none can take the server down.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Tells a task it is time to stop; cheap to clone.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once stopping was asked for (at once if it already was).
    pub async fn stopped(&mut self) {
        // An error means the owner is gone, which is a stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    #[must_use]
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// The running background tasks.
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

impl Tasks {
    #[must_use]
    pub fn new() -> Self {
        Self { stop: watch::Sender::new(false), running: Vec::new() }
    }

    /// Starts `task` under `name`; it gets a [`StopSignal`] and should return
    /// soon after it fires. An `Err` is logged with the task's name.
    pub fn spawn<F, Fut, E>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let run = task(StopSignal(self.stop.subscribe()));
        let handle = tokio::spawn(async move {
            tracing::debug!(task = name, "background task started");
            match run.await {
                Ok(()) => tracing::debug!(task = name, "background task ended"),
                Err(err) => tracing::error!(task = name, error = %err, "background task failed"),
            }
        });
        self.running.push((name, handle));
    }

    /// Runs `work` every `every` (the first run after one period) until stopped.
    /// A run's error is logged with the task's name and the next run goes ahead.
    pub fn spawn_periodic<F, Fut, E>(&mut self, name: &'static str, every: Duration, work: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.spawn(name, move |mut stop| async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.stopped() => return Ok::<(), E>(()),
                    _ = ticks.tick() => {}
                }
                // A run in progress finishes (or is cut off by `shutdown`'s timeout).
                if let Err(err) = work().await {
                    tracing::error!(task = name, error = %err, "background task run failed; retrying next period");
                }
            }
        });
    }

    /// The names of the tasks started so far.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        self.running.iter().map(|(name, _)| *name).collect()
    }

    /// A signal that fires when [`Tasks::stop`] or [`Tasks::shutdown`] is called.
    #[must_use]
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(self.stop.subscribe())
    }

    /// Tells every task to stop, without waiting.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Tells every task to stop and waits for them, all together within
    /// `timeout`; a task still running then is aborted. Panics are logged with
    /// the task's name.
    pub async fn shutdown(self, timeout: Duration) {
        self.stop();
        let deadline = tokio::time::Instant::now() + timeout;
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) if err.is_panic() => tracing::error!(task = name, "background task panicked"),
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(task = name, "background task did not stop within the drain timeout; aborted");
                    handle.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn periodic_work_runs_each_period_survives_failures_and_stops_when_told() {
        let runs = Arc::new(AtomicU32::new(0));
        let mut tasks = Tasks::new();
        let counter = runs.clone();
        tasks.spawn_periodic("count", Duration::from_secs(10), move || {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n == 0 { Err("first run fails") } else { Ok(()) }
            }
        });
        assert_eq!(tasks.names(), ["count"]);
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "runs at 10, 20, 30 s, the failed first one included");
        tasks.shutdown(Duration::from_secs(1)).await;
        let after = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), after, "no run after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_and_one_that_ignores_the_stop_do_not_hold_up_shutdown() {
        let mut tasks = Tasks::new();
        tasks.spawn("panics", |_| async {
            if tasks_panic() {
                panic!("boom");
            }
            Ok::<(), String>(())
        });
        tasks.spawn("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), String>(())
        });
        let polite = Arc::new(AtomicU32::new(0));
        let seen = polite.clone();
        tasks.spawn("polite", move |mut stop| async move {
            stop.stopped().await;
            seen.store(1, Ordering::SeqCst);
            Ok::<(), String>(())
        });
        let started = tokio::time::Instant::now();
        tasks.shutdown(Duration::from_secs(5)).await;
        assert!(started.elapsed() <= Duration::from_secs(5));
        assert_eq!(polite.load(Ordering::SeqCst), 1, "the polite task saw the stop");
    }

    fn tasks_panic() -> bool {
        true
    }
}
