//! The shared outbound client (`devora-outbound`), spoken to by openidconnect.

use std::future::Future;
use std::pin::Pin;

use devora_outbound::OutboundHttp;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The outbound client as openidconnect's `AsyncHttpClient`.
#[derive(Clone)]
pub(crate) struct OidcHttp(pub(crate) OutboundHttp);

#[derive(Debug)]
pub struct OutboundError(String);

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutboundError {}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(|e| OutboundError(e.to_string()))?;
            let response = self.0.client().execute(request).await.map_err(|e| OutboundError(e.to_string()))?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| OutboundError(e.to_string()))?;
            builder.body(body.to_vec()).map_err(|e| OutboundError(e.to_string()))
        })
    }
}
