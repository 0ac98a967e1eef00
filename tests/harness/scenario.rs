//! One way to run a scenario over backend variants: [`scenario!`](crate::scenario).

use std::future::Future;

use super::app::TestApp;
use super::variants::{Variant, should_run};

/// Runs a scenario over backend variants, each variant its own `#[tokio::test]`
/// (named `sqlite_memory`, `sqlite_redis`, `postgres_memory` or `postgres_redis`)
/// inside a module named after the scenario, so that they run in parallel and a
/// failure names its variant.
///
/// ```text
/// // A fresh server per variant, started with the harness's defaults.
/// scenario!(logout_ends_the_session, [all], |app: TestApp| {
///     let signed_in = app.new_user().await;
///     assert_eq!(app.logout(&signed_in.refresh_token).await.status(), 204);
/// });
///
/// // The variant itself, for a scenario that starts its own servers (with
/// // `Options`, several nodes, stand-ins).
/// scenario!(login_is_limited, [sqlite_memory, postgres_redis], |variant: Variant| {
///     let app = TestApp::spawn_with(variant, Options::with_env(&[("RATE_LIMIT_LOGIN", "3/min")])).await;
/// });
///
/// // More runtime threads than the default 2 (several nodes under load).
/// scenario!(three_nodes_share_the_quota, [postgres_redis], threads = 4, |variant: Variant| { ... });
/// ```
///
/// `[all]` is the four variants. A variant whose Postgres or Redis does not
/// answer is skipped with a `SKIPPED` line on stderr, shown even when the run
/// passes; with `CI=true` it fails instead.
#[macro_export]
macro_rules! scenario {
    (@variant sqlite_memory) => { $crate::Variant::SQLITE_MEMORY };
    (@variant sqlite_redis) => { $crate::Variant::SQLITE_REDIS };
    (@variant postgres_memory) => { $crate::Variant::POSTGRES_MEMORY };
    (@variant postgres_redis) => { $crate::Variant::POSTGRES_REDIS };

    (@tests $threads:tt, $run:ident, [$($variant:ident),+]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn $variant() {
                let name = concat!(module_path!(), "::", stringify!($variant));
                $crate::$run($crate::scenario!(@variant $variant), name, scenario).await;
            }
        )+
    };

    ($name:ident, [all], $($rest:tt)+) => {
        $crate::scenario!($name, [sqlite_memory, sqlite_redis, postgres_memory, postgres_redis], $($rest)+);
    };
    ($name:ident, [$($variant:ident),+ $(,)?], |$($rest:tt)+) => {
        $crate::scenario!($name, [$($variant),+], threads = 2, |$($rest)+);
    };
    ($name:ident, [$($variant:ident),+ $(,)?], threads = $threads:tt, |$app:ident : TestApp| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($app: $crate::TestApp) $body

            $crate::scenario!(@tests $threads, run_on_app, [$($variant),+]);
        }
    };
    ($name:ident, [$($variant:ident),+ $(,)?], threads = $threads:tt, |$v:ident : Variant| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($v: $crate::Variant) $body

            $crate::scenario!(@tests $threads, run_on_variant, [$($variant),+]);
        }
    };
}

/// [`scenario!`]'s runner for `|app: TestApp|`: a fresh default server.
#[doc(hidden)]
pub async fn run_on_app<F: Future<Output = ()>>(variant: Variant, test: &str, scenario: impl FnOnce(TestApp) -> F) {
    if should_run(variant, test) {
        scenario(TestApp::spawn(variant).await).await;
    }
}

/// [`scenario!`]'s runner for `|variant: Variant|`.
#[doc(hidden)]
pub async fn run_on_variant<F: Future<Output = ()>>(variant: Variant, test: &str, scenario: impl FnOnce(Variant) -> F) {
    if should_run(variant, test) {
        scenario(variant).await;
    }
}
