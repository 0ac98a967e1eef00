//! The traits the core needs from the outside world. Adapters implement them;
//! the app layer is written against them only.
//!
//! These are `async_trait` traits so the server can choose an adapter at run
//! time (SQLite or Postgres, in-process or Redis) behind an `Arc<dyn ...>`.
//!
//! One folder per feature (`auth/`, `projects/`); the pieces every feature
//! shares (storage errors, the clock, pages, idempotency, cache, rate limits,
//! the request gate, probes) each in a file of their own.

pub mod admin;
pub mod auth;
pub mod billing;
pub mod cache;
pub mod clock;
pub mod gate;
pub mod generation;
pub mod housekeeping;
pub mod idempotency;
pub mod page;
pub mod probe;
pub mod projects;
pub mod rate_limit;
pub mod storage;

pub use auth::{
    AccessClaims, AccessTokens, AuthorizationRedirect, CreateUserError, HashError, IdentityError, IdentityProvider,
    IssuedLoginCode, NewSession, NewUser, PasswordHasher, PendingSignIn, Rotation, Session, SessionRepository,
    SignInProof, SignInStore, TokenError, UserRepository,
};
pub use billing::{
    BillingStore, CheckoutRequest, CustomerLock, Entitlement, Entitlements, GatewayError, InvoicePage, PaymentGateway,
    ProviderEvent, ProviderInvoice, ProviderSubscription, WebhookEndpoint, WebhookError, WebhookVerifier,
};
pub use cache::{Cache, CacheError, Entry, Versioned, VersionedRead};
pub use clock::{Clock, SystemClock};
pub use gate::{Gate, LimitCheck, Passage};
pub use housekeeping::{ExpiredRecords, PurgeReport};
pub use idempotency::{CreatedResource, IdempotencyClaim, IdempotencyStore};
pub use page::{Page, PageCursor};
pub use probe::{Probe, ProbeError};
pub use projects::{
    AppliedChanges, CreateProjectError, FileChange, FileLimits, JobLease, NewProject, ProjectPatch, ProjectRepository,
    PutFileError, RevisionPage, RevisionTarget,
};
pub use rate_limit::{RateLimitDecision, RateLimitError, RateLimiter};
pub use storage::StorageError;
