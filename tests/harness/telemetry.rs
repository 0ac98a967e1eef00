//! `TEST_LOG=1` shows the server's tracing: through libtest's capture, so a
//! failing test prints its own server's lines (all tests do with `--nocapture`).
//! `RUST_LOG` narrows or widens it as for the server.

use std::sync::Once;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber the first time a server starts, if `TEST_LOG` is set.
pub(crate) fn init() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        if !std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            return;
        }
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,actix_server=warn"));
        // Another subscriber already installed (a test of its own): keep it.
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}
