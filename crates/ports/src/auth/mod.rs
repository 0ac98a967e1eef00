//! What accounts and sign-in need from the outside: storage for users, sessions
//! and sign-in state, password hashing, access tokens, identity providers.

mod credentials;
mod identities;
mod sessions;
mod sign_ins;
mod users;

pub use credentials::{AccessClaims, AccessTokens, HashError, PasswordHasher, TokenError};
pub use identities::{AuthorizationRedirect, IdentityError, IdentityProvider};
pub use sessions::{NewSession, Rotation, Session, SessionRepository, SignInProof};
pub use sign_ins::{IssuedLoginCode, PendingSignIn, SignInStore};
pub use users::{CreateUserError, NewUser, UserRepository};
