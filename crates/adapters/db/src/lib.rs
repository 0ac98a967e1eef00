//! The database adapter (sea-orm): one connection type, one set of migrations and
//! one set of repositories for SQLite (the embedded default) and Postgres.

mod admin;
mod auth;
mod billing;
mod database;
mod entity;
mod errors;
mod generation;
mod housekeeping;
mod idempotency;
pub mod migration;
mod projects;

pub use database::{Backend, Database, DbConfig, DbError};
