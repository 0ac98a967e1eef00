//! Local stand-ins for the services outside our control, speaking their wire
//! formats over real HTTP on loopback, one module per service; what they share
//! (the server, PKCE, query parsing) is here.

mod github;
mod llm;
mod oidc;
mod stripe;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use base64::Engine;
use sha2::{Digest, Sha256};

pub use github::{FakeGitHubAccount, GitHubStandIn};
pub use llm::{Ending, HttpFailure, LlmStandIn, ScriptedReply, Split, Usage};
pub use oidc::{ClaimsPlacement, FakeIdentity, IdTokenFault, OidcIssuer};
pub use stripe::{FakeCheckoutSession, FakeStripeCustomer, Fault, STRIPE_STANDIN_API_VERSION, StripeStandIn};

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks a PKCE verifier against its S256 challenge, as a real server does.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    b64url(&Sha256::digest(verifier.as_bytes())) == challenge
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Seconds since the Unix epoch, as token claims count them.
fn unix_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// A stand-in's HTTP server on a free loopback port, stopped when dropped.
struct StandInServer {
    url: String,
    handle: ServerHandle,
}

impl StandInServer {
    fn start(configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static) -> Self {
        let server = HttpServer::new(move || App::new().configure(configure.clone()))
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("bind stand-in");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://127.0.0.1:{port}"), handle }
    }
}

impl Drop for StandInServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}
