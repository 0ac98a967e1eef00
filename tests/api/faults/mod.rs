//! Faults under load: a dependency stopped and restarted, a node told to stop,
//! while several clients read and write. Each test prints one line of counts
//! (`fault <name>: requests=N ok=N 5xx=N ...`) straight to stderr, past libtest's
//! capture, so that a passing run shows them too (docs/benchmarks.md quotes them).
//!
//! The fourth fault, a node killed mid-job, is `cluster::jobs::a_job_of_a_killed_node_is_finished_by_another`
//! (and `generation::processes` for a lone worker process). Nothing here stops
//! the shared Postgres or Redis: the tests that stop one run their own instance
//! (`PrivateRedis`, `PrivatePostgres`), removed on drop however the test ends.

mod load;
mod outages;
mod sigterm;

use std::io::Write;

use load::Tally;

use super::*;

/// Writes the test's counts as one line on the process's stderr.
pub fn report(name: &str, tally: &Tally, verified: usize, extra: &str) {
    let line = format!(
        "fault {name}: requests={} ok={} 5xx={} (503={}) 4xx={} refused={} closed={} cut={} hung={} stale_reads={} \
         writes_acked={} writes_unknown={} writes_verified={verified}{extra}{}",
        tally.requests,
        tally.ok,
        tally.five_xx(),
        tally.unavailable,
        tally.client_errors,
        tally.refused,
        tally.closed,
        tally.cut,
        tally.hung,
        tally.stale,
        tally.writes_acked,
        tally.writes_unknown,
        if tally.failures.is_empty() { String::new() } else { format!(" transport_failures={:?}", tally.failures) },
    );
    let _ = writeln!(std::io::stderr(), "{line}");
}
