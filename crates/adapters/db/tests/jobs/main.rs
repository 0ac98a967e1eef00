//! The generation job store's guarantees (the queue with its leases and fencing
//! tokens, the event log, budgets and reservations, stream tickets) on a real
//! SQLite file and, when `TEST_DATABASE_URL` names a server, on a fresh Postgres
//! database too: every test runs its body on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod budget;
mod fencing;
mod queue;
mod support;
mod tickets;
