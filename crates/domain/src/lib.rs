//! Devora's domain: pure types and rules. No I/O, no framework types.
//!
//! Values that reach this crate are valid by construction: each newtype has one
//! `parse` that checks it, and nothing else builds one.

/// An id newtype over a UUIDv7: `new`, `from_uuid`, `as_uuid`, `parse` (the
/// canonical text form only) and `Display`.
macro_rules! uuid_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            #[must_use]
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            #[must_use]
            pub fn from_uuid(id: ::uuid::Uuid) -> Self {
                Self(id)
            }

            #[must_use]
            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }

            /// Parses the canonical text form; anything else is `None`.
            #[must_use]
            pub fn parse(raw: &str) -> Option<Self> {
                ::uuid::Uuid::try_parse(raw).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub mod admin;
pub mod auth;
pub mod billing;
pub mod generation;
mod invalid;
pub mod projects;
pub mod rate_limit;

pub use auth::refresh::{RefreshUse, refresh_use};
pub use auth::{
    Email, ExternalIdentity, IdentityProviderId, Password, PasswordRule, Role, SessionId, User, UserId, UserName,
    UserStatus,
};
pub use billing::{
    BillingInterval, Catalog, CatalogError, Limits, Plan, PlanId, Subscription, SubscriptionStatus, granted_plan,
    past_due_since,
};
pub use generation::{
    Job, JobError, JobErrorCode, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, JobUsage, Prompt,
};
pub use invalid::{Invalid, Violation};
pub use projects::{
    FileMeta, FilePath, FilePathError, Framework, Message, MessageContent, MessageId, MessageRole, Project,
    ProjectDescription, ProjectId, ProjectName, ProjectPatch, Revision, RevisionChange, RevisionKind,
};
pub use rate_limit::{PolicyName, Quota, QuotaError};
