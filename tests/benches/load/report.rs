//! The results as markdown: a header naming the machine, commit and command,
//! one table per mode; optionally written into `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use super::wrk::Outcome;

pub const START: &str = "<!-- bench:results:start -->";
pub const END: &str = "<!-- bench:results:end -->";

pub struct Row {
    pub scenario: String,
    pub outcome: Outcome,
    pub rss_kib: Option<u64>,
    /// Extra words for the errors column (the login flood's own figures).
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, outcome: Outcome, rss_kib: Option<u64>) -> Self {
        Self { scenario: scenario.to_owned(), outcome, rss_kib, note: String::new() }
    }
}

pub struct ModeReport {
    pub title: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

impl ModeReport {
    /// The table; "vs baseline" divides by the first row's req/s (the baseline
    /// measured in the same run, just before).
    pub fn markdown(&self) -> String {
        let baseline = self.rows.first().map_or(0.0, |r| r.outcome.rps());
        let mut out = format!("### {}\n\n", self.title);
        out.push_str("| scenario | req/s | p50 | p99 | peak RSS | vs baseline | errors |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
        for row in &self.rows {
            let o = &row.outcome;
            let rss = row.rss_kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
            let ratio = if baseline > 0.0 { format!("{:.1}%", 100.0 * o.rps() / baseline) } else { "?".to_owned() };
            let mut errors = o.errors();
            if !row.note.is_empty() {
                let _ = write!(errors, " ({})", row.note);
            }
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {rss} | {ratio} | {errors} |",
                row.scenario,
                o.rps(),
                ms(o.p50_us),
                ms(o.p99_us)
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }

    /// Whether any row saw an error (non-2xx or socket).
    pub fn has_errors(&self) -> bool {
        self.rows.iter().any(|r| r.outcome.non_2xx > 0 || r.outcome.socket_errors() > 0 || r.outcome.requests == 0)
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).current_dir(repo_root()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The repository root (this crate is `tests/`).
pub fn repo_root() -> PathBuf {
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    tests.parent().map_or_else(|| tests.join(".."), std::path::Path::to_path_buf)
}

/// `nproc`, the CPU model and the memory, from /proc.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!("{cores} cores (nproc), {model}, {:.1} GiB memory", mem_kib as f64 / (1024.0 * 1024.0))
}

/// The lines above the tables.
pub fn header(command: &str, wrk: &str, workers: usize) -> String {
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    let dirty =
        command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let commit = if dirty { format!("{commit} with uncommitted changes in the work tree") } else { commit };
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!(
        "- date: {date}\n- machine: {}\n- commit: {commit}\n- command: `{command}`\n- load: {wrk} per scenario after a {} s warm-up, wrk on the same machine\n- HTTP workers: {workers} for the server and for the baseline\n",
        machine(),
        super::wrk::WARM_UP_SECS,
    )
}

/// Replaces what lies between the markers in `docs/benchmarks.md`.
pub fn write_docs(results: &str) -> Result<PathBuf, String> {
    let path = repo_root().join("docs").join("benchmarks.md");
    let doc = std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        return Err(format!("{} lacks the markers {START} and {END}", path.display()));
    };
    if end < start {
        return Err(format!("{}: {END} comes before {START}", path.display()));
    }
    let updated = format!("{}{START}\n{results}{}", &doc[..start], &doc[end..]);
    std::fs::write(&path, updated).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}
