//! The layering holds: the core never depends on frameworks or drivers.

use std::collections::{HashMap, HashSet};
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

#[test]
fn domain_ports_and_app_never_depend_on_frameworks_or_drivers() {
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

    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // Normal (non-dev, non-build) dependency edges of the resolved graph.
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()));
        edges.insert(id, deps.map(|d| d["pkg"].as_str().unwrap()).collect());
    }
    for core in CORE {
        let start = names.iter().find(|(_, n)| *n == core).map(|(id, _)| *id).expect(core);
        let mut seen = HashSet::new();
        let mut stack = vec![(start, vec![*core])];
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            for dep in edges.get(id).into_iter().flatten() {
                let name = names[dep];
                let mut next = path.clone();
                next.push(name);
                assert!(!FORBIDDEN.contains(&name), "{core} depends on {name}: {}", next.join(" -> "));
                stack.push((dep, next));
            }
        }
    }
}
