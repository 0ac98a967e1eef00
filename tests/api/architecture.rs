//! The layering holds: the core never depends on frameworks or drivers, adapters
//! never on each other, and only the server and these tests know the adapters.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

const CORE: &[&str] = &["devora-domain", "devora-ports", "devora-app", "devora-api-types"];
const FORBIDDEN: &[&str] = &[
    "actix-web",
    "actix-http",
    "actix-cors",
    "sea-orm",
    "sea-query",
    "sqlx",
    "sqlx-core",
    "redis",
    "deadpool-redis",
    "reqwest",
    "hyper",
];
/// Where adapters live: a package is one when its manifest is under here.
const ADAPTERS_DIR: &str = "crates/adapters";
/// The one adapter other adapters may use: the shared outbound HTTP client
/// (`crates/adapters/outbound`), which the provider adapters build on.
const SHARED_ADAPTER: &str = "devora-outbound";
/// The packages that wire adapters in, and so know every one of them.
const WIRING: &[&str] = &["devora-server", "devora-e2e"];

/// The resolved package graph, as `cargo metadata` reports it for this host.
struct Graph {
    names: HashMap<String, String>,
    manifests: HashMap<String, PathBuf>,
    members: Vec<String>,
    root: PathBuf,
    /// Normal (non-dev, non-build) dependency edges: what a package ships with.
    edges: HashMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let rustc = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .expect("host triple");
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--filter-platform", &host])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();

        let packages = meta["packages"].as_array().unwrap();
        let names = packages.iter().map(|p| (text(&p["id"]), text(&p["name"]))).collect();
        let manifests = packages.iter().map(|p| (text(&p["id"]), PathBuf::from(text(&p["manifest_path"])))).collect();
        let members = meta["workspace_members"].as_array().unwrap().iter().map(text).collect();
        let mut edges = HashMap::new();
        for node in meta["resolve"]["nodes"].as_array().unwrap() {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| text(&d["pkg"]))
                .collect();
            edges.insert(text(&node["id"]), deps);
        }
        Self { names, manifests, members, root: PathBuf::from(text(&meta["workspace_root"])), edges }
    }

    fn name(&self, id: &str) -> &str {
        &self.names[id]
    }

    fn id(&self, name: &str) -> &str {
        self.members.iter().find(|id| self.name(id) == name).unwrap_or_else(|| panic!("no workspace package {name}"))
    }

    /// Our packages whose manifest lives under [`ADAPTERS_DIR`].
    fn adapters(&self) -> BTreeSet<&str> {
        let dir = self.root.join(ADAPTERS_DIR);
        self.members.iter().filter(|id| Path::new(&self.manifests[*id]).starts_with(&dir)).map(String::as_str).collect()
    }

    /// Every package `start` reaches, each with the chain of names that leads there.
    fn reachable(&self, start: &str) -> Vec<(&str, Vec<&str>)> {
        let mut paths: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut queue = VecDeque::from([(start, vec![self.name(start)])]);
        while let Some((id, path)) = queue.pop_front() {
            for dep in self.edges.get(id).into_iter().flatten() {
                if dep != start && !paths.contains_key(dep.as_str()) {
                    let mut next = path.clone();
                    next.push(self.name(dep));
                    paths.insert(dep, next.clone());
                    queue.push_back((dep, next));
                }
            }
        }
        paths.into_iter().collect()
    }
}

#[test]
fn domain_ports_and_app_never_depend_on_frameworks_or_drivers() {
    let graph = Graph::load();
    let mut failures = BTreeSet::new();
    for core in CORE {
        for (id, path) in graph.reachable(graph.id(core)) {
            let name = graph.name(id);
            if FORBIDDEN.contains(&name) {
                failures.insert(format!("{core} depends on {name}: {}", path.join(" -> ")));
            }
        }
    }
    assert!(failures.is_empty(), "the core reaches frameworks or drivers:\n{}", Vec::from_iter(failures).join("\n"));
}

/// Adapters never depend on each other (but may share the outbound HTTP client),
/// nothing but the wiring packages depends on an adapter (the http crate and the
/// core included), and the wiring packages reach every adapter.
#[test]
fn adapters_stay_apart_and_only_the_server_and_these_tests_know_them() {
    let graph = Graph::load();
    let adapters = graph.adapters();
    assert!(!adapters.is_empty(), "no packages found under {ADAPTERS_DIR}");
    assert!(adapters.iter().all(|a| !WIRING.contains(&graph.name(a))));
    let mut failures = BTreeSet::new();
    for member in &graph.members {
        let name = graph.name(member);
        let reached: HashMap<&str, Vec<&str>> = graph.reachable(member).into_iter().collect();
        if WIRING.contains(&name) {
            for adapter in &adapters {
                if !reached.contains_key(adapter) {
                    failures.insert(format!("{name} does not reach the adapter {}", graph.name(adapter)));
                }
            }
            continue;
        }
        let is_adapter = adapters.contains(member.as_str());
        for adapter in &adapters {
            let Some(path) = reached.get(adapter) else { continue };
            if !(is_adapter && graph.name(adapter) == SHARED_ADAPTER) {
                let what = if is_adapter { "an adapter depends on another" } else { "only the wiring knows adapters" };
                failures.insert(format!("{what}: {}", path.join(" -> ")));
            }
        }
    }
    assert!(failures.is_empty(), "the layering is broken:\n{}", Vec::from_iter(failures).join("\n"));
}
