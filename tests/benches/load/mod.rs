//! The pieces of `just bench` (a directory without `main.rs`, so cargo does not
//! take it for a bench target of its own).

pub mod baseline;
pub mod report;
pub mod scenarios;
pub mod seed;
pub mod server;
pub mod wrk;
