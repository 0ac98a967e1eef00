//! Credentials crypto: Argon2id password hashing on a bounded blocking pool, and
//! HS256 access tokens with the algorithm pinned.

mod jwt;
mod password;

pub use jwt::{JwtConfig, JwtTokens};
pub use password::Argon2Hasher;
