//! A TCP proxy the tests put between the server and Postgres or Redis, to make
//! a dependency unreachable (refusing) or hang (black hole) without stopping the
//! shared service other tests use.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward bytes both ways.
    Forward,
    /// Close every connection, open or new, at once (the service is down).
    Refuse,
    /// Accept and hold connections without a byte (the service hangs).
    Blackhole,
}

pub struct TcpProxy {
    address: SocketAddr,
    mode: Arc<watch::Sender<ProxyMode>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// # Panics
    /// When no local port can be bound.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(ProxyMode::Forward);
        let mode = Arc::new(mode);
        let accept_mode = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut changes = accept_mode.subscribe();
                tokio::spawn(async move {
                    let current = *changes.borrow_and_update();
                    match current {
                        ProxyMode::Refuse => {
                            let _ = inbound.shutdown().await;
                        }
                        ProxyMode::Blackhole => {
                            // Hold the socket until the mode changes again.
                            let _ = changes.changed().await;
                        }
                        ProxyMode::Forward => {
                            let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = changes.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Self { address, mode, task }
    }

    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Switches mode; open connections are cut on any change.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(ProxyMode::Refuse);
    }
}
