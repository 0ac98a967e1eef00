//! The traits the core needs from the outside world. Adapters implement them;
//! the app layer is written against them only.
//!
//! These are `async_trait` traits so the server can choose an adapter at run
//! time (SQLite or Postgres, in-process or Redis) behind an `Arc<dyn ...>`.

pub mod account;
pub mod cache;
pub mod probe;
pub mod project;
pub mod rate_limit;

pub use account::{
    AccessClaims, AccessTokens, AuthorizationRedirect, Clock, CreateUserError, HashError, IdentityError,
    IdentityProvider, IssuedLoginCode, NewSession, NewUser, PasswordHasher, PendingSignIn, Rotation, Session,
    SessionRepository, SignInProof, SignInStore, StorageError, SystemClock, TokenError, UserRepository,
};
pub use cache::{Cache, CacheError};
pub use probe::{Probe, ProbeError};
pub use project::{
    CreateProjectError, FileLimits, IdempotencyClaim, IdempotencyStore, NewProject, Page, PageCursor, ProjectPatch,
    ProjectRepository, PutFileError, StoredResponse,
};
pub use rate_limit::{RateLimitDecision, RateLimitError, RateLimiter};
