//! The end-to-end harness: the real server, started in-process on port 0 with its
//! real adapters, in four variants (SQLite or Postgres, in-process or Redis).
//!
//! Every test that runs the server goes through [`scenario!`], which makes each
//! variant its own test. Each test gets a fresh SQLite file or Postgres database
//! and its own Redis key prefix, so tests run in parallel and leave nothing
//! behind. Postgres and Redis variants run whenever the services answer, say
//! loudly when skipped, and fail instead of skipping when `CI=true`. `TEST_LOG=1`
//! shows the server's tracing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod harness;
pub mod proxy;
pub mod standins;

pub use harness::app::{Options, TestApp};
pub use harness::cluster::{CLUSTER_JWT_SECRET, Cluster, ClusterOptions, owned};
pub use harness::endpoint::Endpoint;
pub use harness::isolation::TempDir;
pub use harness::process::{ServerProcess, server_binary};
pub use harness::requests::{PASSWORD, SignedIn, unique_email};
#[doc(hidden)]
pub use harness::scenario::{run_on_app, run_on_variant};
pub use harness::services::{PrivatePostgres, PrivateRedis};
pub use harness::variants::{Db, Kv, Variant, postgres_admin_url, redis_url};
pub use proxy::{ProxyMode, TcpProxy};
