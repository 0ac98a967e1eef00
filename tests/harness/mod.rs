//! The harness's parts, re-exported flat at the crate root.

pub mod app;
pub mod isolation;
pub mod process;
pub mod requests;
pub mod scenario;
mod telemetry;
pub mod variants;
