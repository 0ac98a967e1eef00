//! sea-orm entities: rows as stored. Never exposed outside this crate; the
//! repositories map them to domain types explicitly.

pub mod audit_log;
pub mod billing_customers;
pub mod billing_events;
pub mod billing_subscriptions;
pub mod file_blobs;
pub mod generation_events;
pub mod generation_jobs;
pub mod generation_tickets;
pub mod idempotency_keys;
pub mod login_codes;
pub mod messages;
pub mod oauth_identities;
pub mod oauth_pending;
pub mod project_files;
pub mod projects;
pub mod refresh_tokens;
pub mod revision_changes;
pub mod revisions;
pub mod sessions;
pub mod users;
