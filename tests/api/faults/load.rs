//! The load the fault tests run: several tasks, each its own user, going round
//! the nodes creating projects (POST), reading them (GET one, GET the list) and
//! renaming them (PATCH), checking every read against the writes acknowledged
//! before it, and tallying every answer. After the fault, [`verify`] reads every
//! acknowledged write back on every node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devora_e2e::Endpoint;
use serde_json::{Value, json};

/// Every answer of a load, by kind.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: usize,
    /// 2xx.
    pub ok: usize,
    /// 4xx (none is expected: limits are off, every id exists).
    pub client_errors: usize,
    /// 503 `service-unavailable`.
    pub unavailable: usize,
    /// Any other 5xx.
    pub server_errors: usize,
    /// The connection was refused (nothing listening).
    pub refused: usize,
    /// The request timed out (a hang).
    pub hung: usize,
    /// The connection closed (or was reset) after it was made and before any
    /// answer: on a kept-alive connection the server was closing, HTTP/1.1's
    /// known race (RFC 9112 9.3.1).
    pub closed: usize,
    /// An answer whose headers came and whose body was cut.
    pub cut: usize,
    /// A 200 read showing a name from before an acknowledged write.
    pub stale: usize,
    /// A 404 for a project whose creation was acknowledged.
    pub missing: usize,
    pub writes_acked: usize,
    /// Writes answered 5xx or cut after being sent: they may or may not have
    /// happened (a refused connection sent nothing).
    pub writes_unknown: usize,
    /// The first few transport failures, as reqwest tells them.
    pub failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.client_errors += other.client_errors;
        self.unavailable += other.unavailable;
        self.server_errors += other.server_errors;
        self.refused += other.refused;
        self.hung += other.hung;
        self.closed += other.closed;
        self.cut += other.cut;
        self.stale += other.stale;
        self.missing += other.missing;
        self.writes_acked += other.writes_acked;
        self.writes_unknown += other.writes_unknown;
        self.failures.extend(other.failures.iter().take(3).cloned());
    }

    /// All 5xx answers.
    #[must_use]
    pub fn five_xx(&self) -> usize {
        self.unavailable + self.server_errors
    }
}

/// A project a task created: the name its last acknowledged write gave it, and
/// the names unacknowledged writes since may have given it.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: String,
    pub token: String,
    pub confirmed: String,
    pub maybe: Vec<String>,
    /// Acknowledged writes to it (its creation and renames).
    pub acked: usize,
}

impl Written {
    fn allows(&self, name: &str) -> bool {
        name == self.confirmed || self.maybe.iter().any(|m| m == name)
    }
}

/// One request's outcome: a status and body, or how the transport failed.
enum Outcome {
    Answer(u16, Value),
    Refused,
    Hung,
    Closed,
    Cut,
}

/// An error and its sources, on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn send(tally: &mut Tally, request: reqwest::RequestBuilder) -> Outcome {
    tally.requests += 1;
    let (outcome, failure) = match request.timeout(Duration::from_secs(20)).send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            match res.bytes().await {
                Ok(bytes) => (Outcome::Answer(status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)), None),
                Err(e) if e.is_timeout() => (Outcome::Hung, Some(e)),
                Err(e) => (Outcome::Cut, Some(e)),
            }
        }
        Err(e) if e.is_connect() => (Outcome::Refused, None),
        Err(e) if e.is_timeout() => (Outcome::Hung, Some(e)),
        Err(e) => (Outcome::Closed, Some(e)),
    };
    if let Some(e) = failure
        && tally.failures.len() < 3
    {
        tally.failures.push(describe(&e));
    }
    match &outcome {
        Outcome::Answer(200..=299, _) => tally.ok += 1,
        Outcome::Answer(503, _) => tally.unavailable += 1,
        Outcome::Answer(500..=599, _) => tally.server_errors += 1,
        Outcome::Answer(_, _) => tally.client_errors += 1,
        Outcome::Refused => tally.refused += 1,
        Outcome::Hung => tally.hung += 1,
        Outcome::Closed => tally.closed += 1,
        Outcome::Cut => tally.cut += 1,
    }
    outcome
}

/// Checks a read of `project` against what was written to it.
fn check_read(tally: &mut Tally, project: &Written, outcome: &Outcome) {
    match outcome {
        Outcome::Answer(200, body) if !project.allows(body["name"].as_str().unwrap_or_default()) => tally.stale += 1,
        Outcome::Answer(404, _) => tally.missing += 1,
        _ => {}
    }
}

/// One task's loop until `stop`: its tally and the projects it created.
async fn task(t: usize, nodes: Vec<Endpoint>, token: String, stop: Arc<AtomicBool>) -> (Tally, Vec<Written>) {
    let mut tally = Tally::default();
    let mut written: Vec<Written> = Vec::new();
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let node = &nodes[(t + k) % nodes.len()];
        let pause = match k % 5 {
            0 => {
                let name = format!("t{t}-{k}-created");
                let req =
                    node.client.post(node.url("/api/v2/projects")).bearer_auth(&token).json(&json!({"name": name}));
                match send(&mut tally, req).await {
                    Outcome::Answer(201, body) => {
                        tally.writes_acked += 1;
                        let id = body["id"].as_str().unwrap().to_owned();
                        written.push(Written {
                            id,
                            token: token.clone(),
                            confirmed: name,
                            maybe: Vec::new(),
                            acked: 1,
                        });
                        false
                    }
                    Outcome::Answer(status, _) if status < 500 => false,
                    Outcome::Refused => true,
                    _ => {
                        tally.writes_unknown += 1;
                        true
                    }
                }
            }
            2 if !written.is_empty() => {
                let project = written.last_mut().unwrap();
                let name = format!("t{t}-{k}-renamed");
                let req = node
                    .client
                    .patch(node.url(&format!("/api/v2/projects/{}", project.id)))
                    .bearer_auth(&token)
                    .json(&json!({"name": name}));
                match send(&mut tally, req).await {
                    Outcome::Answer(200, _) => {
                        tally.writes_acked += 1;
                        project.acked += 1;
                        project.confirmed = name;
                        project.maybe.clear();
                        false
                    }
                    Outcome::Answer(status, _) if status < 500 => false,
                    Outcome::Refused => true,
                    _ => {
                        tally.writes_unknown += 1;
                        project.maybe.push(name);
                        true
                    }
                }
            }
            4 => {
                let req = node.client.get(node.url("/api/v2/projects")).bearer_auth(&token);
                !matches!(send(&mut tally, req).await, Outcome::Answer(..))
            }
            _ if !written.is_empty() => {
                // The newest project, or now and then an older one.
                let project =
                    if k.is_multiple_of(3) { &written[k / 3 % written.len()] } else { written.last().unwrap() };
                let req = node.client.get(node.url(&format!("/api/v2/projects/{}", project.id))).bearer_auth(&token);
                let outcome = send(&mut tally, req).await;
                check_read(&mut tally, project, &outcome);
                !matches!(outcome, Outcome::Answer(..))
            }
            _ => false,
        };
        k += 1;
        if pause {
            // Nobody answering: do not spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (tally, written)
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Tally, Vec<Written>)>>,
}

impl Load {
    /// Registers `tasks` users (through the first node) and starts their loops.
    pub async fn start(nodes: &[Endpoint], tasks: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for t in 0..tasks {
            let token = nodes[0].new_user().await.access_token;
            handles.push(tokio::spawn(task(t, nodes.to_vec(), token, stop.clone())));
        }
        Self { stop, tasks: handles }
    }

    /// Stops the loops; the summed tally and every project created.
    pub async fn finish(self) -> (Tally, Vec<Written>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        let mut written = Vec::new();
        for handle in self.tasks {
            let (t, w) = handle.await.unwrap();
            tally.add(&t);
            written.extend(w);
        }
        (tally, written)
    }
}

/// Reads every project back on every node: the acknowledged writes found
/// (all of a project's when each node serves it with an allowed name), and
/// what each failed read saw.
pub async fn verify(nodes: &[Endpoint], written: &[Written]) -> (usize, Vec<String>) {
    let mut verified = 0;
    let mut failures = Vec::new();
    for project in written {
        let mut all = true;
        for (i, node) in nodes.iter().enumerate() {
            let res = node.get_as(&project.token, &format!("/api/v2/projects/{}", project.id)).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let name = body["name"].as_str().unwrap_or_default();
            if status != 200 || !project.allows(name) {
                all = false;
                failures.push(format!(
                    "node {i}: {} answered {status} {name:?}, expected {:?}",
                    project.id, project.confirmed
                ));
            }
        }
        if all {
            verified += project.acked;
        }
    }
    (verified, failures)
}
