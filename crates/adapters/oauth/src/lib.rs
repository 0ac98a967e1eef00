//! Sign-in providers: any OpenID Connect issuer (Google) through openidconnect,
//! and GitHub through its OAuth2 endpoints and REST API. Base URLs are
//! configurable so tests point them at local stand-ins.

mod github;
mod http;
mod oidc;

pub use github::{GitHubConfig, GitHubProvider};
pub use http::OutboundHttp;
pub use oidc::{OidcConfig, OidcProvider};
