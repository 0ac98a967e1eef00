//! Job signals across nodes over Redis pub/sub: every node publishes on one
//! channel and forwards what it hears to its local subscribers. While Redis is
//! unreachable a signal is delivered on this node only, and other nodes fall
//! back to polling.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use devora_domain::JobId;
use devora_ports::generation::{JobSignal, JobSignals};
use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::{RedisError, RedisStore};

#[derive(Clone)]
pub struct RedisSignals {
    store: RedisStore,
    client: redis::Client,
    channel: String,
    local: broadcast::Sender<JobSignal>,
}

fn encode(signal: &JobSignal) -> String {
    match signal {
        JobSignal::Queued => "q".to_owned(),
        JobSignal::Events { job, seq } => format!("e:{job}:{seq}"),
        JobSignal::Cancel { job } => format!("c:{job}"),
    }
}

fn decode(raw: &str) -> Option<JobSignal> {
    let mut parts = raw.split(':');
    match (parts.next()?, parts.next(), parts.next()) {
        ("q", None, None) => Some(JobSignal::Queued),
        ("e", Some(job), Some(seq)) => Some(JobSignal::Events { job: JobId::parse(job)?, seq: seq.parse().ok()? }),
        ("c", Some(job), None) => Some(JobSignal::Cancel { job: JobId::parse(job)? }),
        _ => None,
    }
}

impl RedisSignals {
    /// # Errors
    /// [`RedisError::Config`] when the URL cannot be parsed.
    pub fn new(store: RedisStore, url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|e| RedisError::Config(e.to_string()))?;
        let channel = store.key(&["jobs"]);
        Ok(Self { store, client, channel, local: broadcast::Sender::new(1024) })
    }

    /// Listens on the channel until `stop` resolves, reconnecting after failures.
    pub async fn listen(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                err = self.listen_once() => {
                    tracing::warn!(error = %err, "job signal subscription lost; reconnecting");
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn listen_once(&self) -> RedisError {
        let backend = |e: redis::RedisError| RedisError::Backend(e.to_string());
        let mut pubsub = match self.client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => return backend(err),
        };
        if let Err(err) = pubsub.subscribe(&self.channel).await {
            return backend(err);
        }
        // Signals may have been missed while disconnected: wake every reader.
        let _ = self.local.send(JobSignal::Queued);
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else { continue };
            if let Some(signal) = decode(&payload) {
                let _ = self.local.send(signal);
            }
        }
        RedisError::Backend("the subscription ended".to_owned())
    }
}

#[async_trait]
impl JobSignals for RedisSignals {
    async fn publish(&self, signal: JobSignal) {
        let channel = self.channel.clone();
        let payload = encode(&signal);
        let sent = self
            .store
            .run(|mut conn| async move {
                redis::cmd("PUBLISH").arg(channel).arg(payload).query_async::<i64>(&mut conn).await
            })
            .await;
        if sent.is_err() {
            // This node's readers still hear it; the others poll.
            let _ = self.local.send(signal);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<JobSignal> {
        self.local.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_the_wire() {
        let job = JobId::new();
        for signal in [JobSignal::Queued, JobSignal::Events { job, seq: 42 }, JobSignal::Cancel { job }] {
            assert_eq!(decode(&encode(&signal)), Some(signal));
        }
        assert_eq!(decode("e:nope:1"), None);
        assert_eq!(decode("x"), None);
    }
}
