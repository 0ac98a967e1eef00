//! One outbound HTTP client for the providers: rustls (ring), short timeouts,
//! no redirects (a redirect from a token endpoint is an SSRF vector).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

#[derive(Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
}

#[derive(Debug)]
pub struct OutboundError(String);

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutboundError {}

impl OutboundHttp {
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        // The process-wide rustls provider; another component may have installed it first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("devora-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }

    #[must_use]
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl<'c> AsyncHttpClient<'c> for OutboundHttp {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(|e| OutboundError(e.to_string()))?;
            let response = self.client.execute(request).await.map_err(|e| OutboundError(e.to_string()))?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| OutboundError(e.to_string()))?;
            builder.body(body.to_vec()).map_err(|e| OutboundError(e.to_string()))
        })
    }
}
