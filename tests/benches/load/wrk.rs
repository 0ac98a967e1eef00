//! wrk, the load generator: one Lua script (request shape from the environment,
//! a `done()` that prints one machine-readable line), a warm-up, then the run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const REQUEST_LUA: &str = include_str!("../wrk/request.lua");
const REPORT_LUA: &str = include_str!("../wrk/report.lua");
const RESULT_TAG: &str = "BENCH-RESULT";
/// Seconds of load before each measured run (connections, caches, allocator).
pub const WARM_UP_SECS: u64 = 1;

/// What one wrk run sends: the same request on every connection.
#[derive(Clone)]
pub struct Load {
    pub method: &'static str,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<String>,
    pub connections: u32,
}

impl Load {
    pub fn get(path: impl Into<String>, connections: u32) -> Self {
        Self { method: "GET", path: path.into(), token: None, body: None, connections }
    }

    pub fn authorized(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn post(mut self, body: String) -> Self {
        self.method = "POST";
        self.body = Some(body);
        self
    }

    /// Two wrk threads, as the figures were measured, fewer only when
    /// there are fewer connections.
    fn threads(&self) -> u32 {
        self.connections.clamp(1, 2)
    }
}

/// What wrk measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    pub requests: u64,
    pub duration_us: u64,
    /// Responses with a status >= 400.
    pub non_2xx: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 { 0.0 } else { self.requests as f64 * 1e6 / self.duration_us as f64 }
    }

    pub fn socket_errors(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }

    /// The errors column: `none`, or each kind with its count.
    pub fn errors(&self) -> String {
        let mut parts = Vec::new();
        if self.non_2xx > 0 {
            parts.push(format!("{} non-2xx", self.non_2xx));
        }
        for (name, n) in
            [("connect", self.connect), ("read", self.read), ("write", self.write), ("timeout", self.timeout)]
        {
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        if self.requests == 0 {
            parts.push("no responses".to_owned());
        }
        if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
    }

    fn parse(stdout: &str) -> Option<Self> {
        let line = stdout.lines().find(|l| l.starts_with(RESULT_TAG))?;
        let mut outcome = Self::default();
        for pair in line.split_whitespace().skip(1) {
            let (key, value) = pair.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match key {
                "requests" => outcome.requests = value,
                "duration_us" => outcome.duration_us = value,
                "status" => outcome.non_2xx = value,
                "connect" => outcome.connect = value,
                "read" => outcome.read = value,
                "write" => outcome.write = value,
                "timeout" => outcome.timeout = value,
                "p50_us" => outcome.p50_us = value,
                "p99_us" => outcome.p99_us = value,
                "max_us" => outcome.max_us = value,
                _ => {}
            }
        }
        Some(outcome)
    }
}

/// wrk with the harness's script written to a directory of the run.
pub struct Wrk {
    script: PathBuf,
}

impl Wrk {
    /// Checks wrk is installed and writes the script into `dir`.
    pub fn new(dir: &Path) -> Result<Self, String> {
        let version = Command::new("wrk").arg("--version").output();
        if version.is_err() {
            return Err("wrk is not installed (Debian: `apt-get install wrk`)".to_owned());
        }
        let script = dir.join("bench.lua");
        std::fs::write(&script, format!("{REQUEST_LUA}\n{REPORT_LUA}"))
            .map_err(|e| format!("write {}: {e}", script.display()))?;
        Ok(Self { script })
    }

    /// The command line a run uses, for the report.
    pub fn settings(connections: u32, seconds: u64) -> String {
        let threads = connections.clamp(1, 2);
        format!("wrk -t{threads} -c{connections} -d{seconds}s --latency -s bench.lua")
    }

    /// Starts wrk for `seconds` against `base` (no warm-up); finish with [`Wrk::wait`].
    pub fn spawn(&self, base: &str, load: &Load, seconds: u64) -> Result<Child, String> {
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{}", load.threads()))
            .arg(format!("-c{}", load.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--latency")
            .arg("-s")
            .arg(&self.script)
            .arg(format!("{base}{}", load.path))
            .env("BENCH_METHOD", load.method)
            .env("BENCH_TOKEN", load.token.as_deref().unwrap_or(""))
            .env("BENCH_BODY", load.body.as_deref().unwrap_or(""))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().map_err(|e| format!("start wrk: {e}"))
    }

    /// Waits for a wrk started by [`Wrk::spawn`] and reads its result line.
    pub fn wait(child: Child) -> Result<Outcome, String> {
        let output = child.wait_with_output().map_err(|e| format!("wait for wrk: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("wrk failed ({}): {stdout}{stderr}", output.status));
        }
        Outcome::parse(&stdout).ok_or_else(|| format!("wrk printed no {RESULT_TAG} line:\n{stdout}"))
    }

    /// A warm-up of [`WARM_UP_SECS`], then the measured run of `seconds`.
    pub fn run(&self, base: &str, load: &Load, seconds: u64) -> Result<Outcome, String> {
        Self::wait(self.spawn(base, load, WARM_UP_SECS)?)?;
        Self::wait(self.spawn(base, load, seconds)?)
    }
}
