//! A TCP proxy the tests put between the server and Postgres or Redis, to make
//! a dependency unreachable (refusing) or hang (black hole) without stopping the
//! shared service other tests use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    commands: Arc<AtomicU64>,
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
        let commands = Arc::new(AtomicU64::new(0));
        let counted = commands.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut changes = accept_mode.subscribe();
                let counted = counted.clone();
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
                            let (mut client_read, mut client_write) = inbound.split();
                            let (mut server_read, mut server_write) = outbound.split();
                            let upstream = async {
                                let mut counter = RespCounter::default();
                                let mut buf = vec![0u8; 16 * 1024];
                                loop {
                                    let n = match client_read.read(&mut buf).await {
                                        Ok(0) | Err(_) => break,
                                        Ok(n) => n,
                                    };
                                    counted.fetch_add(counter.feed(&buf[..n]), Ordering::Relaxed);
                                    if server_write.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                                let _ = server_write.shutdown().await;
                            };
                            let downstream = async {
                                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                                let _ = client_write.shutdown().await;
                            };
                            tokio::select! {
                                () = async { tokio::join!(upstream, downstream); } => {}
                                _ = changes.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Self { address, mode, commands, task }
    }

    /// Commands clients have sent through the proxy so far, counted as RESP
    /// arrays: for a Redis proxy, the round trips the server made.
    #[must_use]
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
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

/// Counts top-level RESP arrays (Redis commands) in a byte stream fed in chunks.
#[derive(Default)]
struct RespCounter {
    line: Vec<u8>,
    /// Bulk strings still to come in the current command.
    elements: u64,
    /// Bytes of the current bulk string still to skip, its CRLF included.
    skip: usize,
}

impl RespCounter {
    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut commands = 0;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(bytes);
                break;
            };
            self.line.extend_from_slice(&bytes[..=end]);
            bytes = &bytes[end + 1..];
            let line = std::mem::take(&mut self.line);
            let number = std::str::from_utf8(&line[1..]).ok().and_then(|n| n.trim_end().parse::<i64>().ok());
            match (line.first(), number) {
                (Some(b'*'), Some(n)) if self.elements == 0 => {
                    commands += 1;
                    self.elements = u64::try_from(n).unwrap_or(0);
                }
                (Some(b'$'), Some(n)) if self.elements > 0 => {
                    self.elements -= 1;
                    self.skip = usize::try_from(n).map_or(0, |n| n + 2);
                }
                _ => {}
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::RespCounter;

    #[test]
    fn counts_commands_whatever_the_chunks() {
        let stream = b"*2\r\n$3\r\nGET\r\n$5\r\n*1\r\n$\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        for size in 1..stream.len() {
            let mut counter = RespCounter::default();
            let total: u64 = stream.chunks(size).map(|chunk| counter.feed(chunk)).sum();
            assert_eq!(total, 2, "chunks of {size}");
        }
    }
}
