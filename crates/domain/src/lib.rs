//! Devora's domain: pure types and rules. No I/O, no framework types.
//!
//! Values that reach this crate are valid by construction: each newtype has one
//! `parse` that checks it, and nothing else builds one.

pub mod account;
pub mod project;
pub mod rate_limit;

pub use account::{
    Email, ExternalIdentity, IdentityProviderId, Password, PasswordRule, Role, SessionId, User, UserId, UserName,
    UserStatus,
};
pub use project::{
    FileMeta, FilePath, FilePathError, Framework, Message, MessageContent, MessageId, MessageRole, Project,
    ProjectDescription, ProjectId, ProjectName,
};
pub use rate_limit::{PolicyName, Quota, QuotaError};
