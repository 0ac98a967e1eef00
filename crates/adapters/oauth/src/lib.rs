//! Sign-in providers: any OpenID Connect issuer (Google) through openidconnect,
//! and GitHub through its OAuth2 endpoints and REST API. Base URLs are
//! configurable so tests point them at local stand-ins. Requests go through
//! the shared outbound client (`devora-outbound`).

mod github;
mod http;
mod oidc;

pub use github::{GitHubConfig, GitHubProvider};
pub use oidc::{OidcConfig, OidcProvider};
