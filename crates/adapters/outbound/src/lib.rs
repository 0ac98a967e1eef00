//! The one outbound HTTP client: every adapter that calls a third party (the
//! identity providers today; Stripe and the LLM provider next) goes through it,
//! so they share one connection pool, one TLS stack and one set of rules:
//! - rustls with the ring provider, no OpenSSL;
//! - no redirects: a redirect from a token or payment endpoint is an SSRF vector,
//!   and the APIs we call never need one;
//! - a connect timeout and a total timeout on every request (a caller that
//!   streams sets its own per-request bounds instead);
//! - a user agent naming Devora and its version.

use std::time::Duration;

/// Bounds on every request of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for a whole request, from sending to the last byte of the answer.
    pub timeout: Duration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(5), timeout: Duration::from_secs(10) }
    }
}

/// A shared handle: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
    config: OutboundConfig,
}

/// The client could not be built (the TLS backend failed to set up).
#[derive(Debug)]
pub struct OutboundSetupError(String);

impl std::fmt::Display for OutboundSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot build the outbound HTTP client: {}", self.0)
    }
}

impl std::error::Error for OutboundSetupError {}

/// The user agent every outbound request carries.
pub const USER_AGENT: &str = concat!("devora-api/", env!("CARGO_PKG_VERSION"));

impl OutboundHttp {
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new(config: OutboundConfig) -> Result<Self, OutboundSetupError> {
        // The process-wide rustls provider; another component may have installed it first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| OutboundSetupError(e.to_string()))?;
        Ok(Self { client, config })
    }

    /// The underlying client, to build requests with.
    #[must_use]
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The bounds the client was built with (a streaming caller overrides the
    /// total per request, but cannot change the connect timeout).
    #[must_use]
    pub fn config(&self) -> OutboundConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A one-shot server that answers the first request with `response` and
    /// hands back what it received.
    fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap();
            stream.write_all(response.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (url, handle)
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_requests_name_devora() {
        let (url, server) =
            serve_once("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n");
        let http = OutboundHttp::new(OutboundConfig::default()).unwrap();
        let res = http.client().get(format!("{url}/token")).send().await.unwrap();
        assert_eq!(res.status(), 302, "the redirect is handed back, not followed");
        let request = server.join().unwrap().to_lowercase();
        assert!(request.contains(&format!("user-agent: {}", USER_AGENT.to_lowercase())), "{request}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = OutboundConfig { connect_timeout: Duration::from_secs(1), timeout: Duration::from_millis(200) };
        let http = OutboundHttp::new(config).unwrap();
        let err = http.client().get(url).send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        drop(listener);
    }
}
