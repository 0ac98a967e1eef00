//! The harness's parts, re-exported flat at the crate root.

pub mod app;
pub mod cluster;
pub mod endpoint;
pub mod isolation;
pub mod process;
pub mod requests;
pub mod scenario;
pub mod services;
mod telemetry;
pub mod variants;
