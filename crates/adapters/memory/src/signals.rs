//! Job signals within one process: a broadcast channel.

use async_trait::async_trait;
use devora_ports::generation::{JobSignal, JobSignals};
use tokio::sync::broadcast;

/// Signals heard by this node only (the embedded default: one node).
#[derive(Clone)]
pub struct MemorySignals {
    sender: broadcast::Sender<JobSignal>,
}

impl Default for MemorySignals {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySignals {
    #[must_use]
    pub fn new() -> Self {
        Self { sender: broadcast::Sender::new(1024) }
    }
}

#[async_trait]
impl JobSignals for MemorySignals {
    async fn publish(&self, signal: JobSignal) {
        // No receiver is fine: nobody is watching.
        let _ = self.sender.send(signal);
    }

    fn subscribe(&self) -> broadcast::Receiver<JobSignal> {
        self.sender.subscribe()
    }
}
