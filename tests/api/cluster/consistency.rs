//! What every node must agree on: one rate-limit budget, and no read from before
//! a write made on another node.

use devora_e2e::{Cluster, ClusterOptions, Endpoint};

use super::*;

// A read quota of 30 (per hour, so that nothing refills while a slow machine
// sends the 120 reads) spent through three processes: exactly 30 accepted in
// all, whichever node each read went to.
scenario!(three_processes_accept_exactly_the_global_read_quota, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let cluster = Cluster::start(ClusterOptions::new(3, &[("RATE_LIMIT_READS", "30/h")])).await;
    let nodes = cluster.endpoints();
    let user = nodes[0].new_user().await;
    let token = &user.access_token;
    let project = nodes[1].create_project_id(token, "Quota").await;
    let path = format!("/api/v2/projects/{project}");
    let mut accepted = [0usize; 3];
    let mut refused = 0;
    // 120 reads, round-robin over the nodes, 12 in flight at a time.
    for round in 0..10 {
        let calls = (0..12).map(|i| {
            let node = (round * 12 + i) % 3;
            let nodes = &nodes;
            let path = &path;
            async move { (node, nodes[node].get_as(token, path).await) }
        });
        for (node, res) in futures_util::future::join_all(calls).await {
            let policy = res.headers().get("ratelimit-policy").map(|v| v.to_str().unwrap().to_owned());
            assert!(policy.as_deref().is_some_and(|p| p.starts_with("\"reads\";q=30;")), "{policy:?}");
            match res.status().as_u16() {
                200 => accepted[node] += 1,
                429 => refused += 1,
                other => panic!("node {node} answered {other}"),
            }
        }
    }
    say(&format!("cluster rate-limit: quota=30 requests=120 accepted_per_node={accepted:?} refused={refused}"));
    assert_eq!((accepted.iter().sum::<usize>(), refused), (30, 90), "the quota holds across nodes: {accepted:?}");
    assert!(accepted.iter().all(|n| *n > 0), "every node spent from the one budget: {accepted:?}");
});

/// The project's name as `node` serves it, alone and in the first page of the list.
async fn names_on(node: &Endpoint, token: &str, project: &str) -> (String, String) {
    let one = node.get_json_as(token, &format!("/api/v2/projects/{project}")).await;
    let list = node.get_json_as(token, "/api/v2/projects").await;
    let listed = list["items"].as_array().unwrap().iter().find(|p| p["id"] == project).expect("listed");
    (one["name"].as_str().unwrap().to_owned(), listed["name"].as_str().unwrap().to_owned())
}

// Every node has the project (and the list) in its caches when another renames
// it; the very next read on each node, and on the writer, is the new name.
// Thirty rounds, the writer going round the nodes.
scenario!(a_rename_on_one_node_is_read_at_once_on_the_others, [postgres_redis], threads = 4, |variant: Variant| {
    let _ = variant;
    let cluster = Cluster::start(ClusterOptions::new(3, &[])).await;
    let nodes = cluster.endpoints();
    let user = nodes[0].new_user().await;
    let token = &user.access_token;
    let project = nodes[0].create_project_id(token, "Name 0").await;
    let mut current = "Name 0".to_owned();
    for round in 1..=30 {
        for (i, node) in nodes.iter().enumerate() {
            // Twice: the first may fill a cache, the second is served from it.
            for _ in 0..2 {
                let seen = names_on(node, token, &project).await;
                assert_eq!(seen, (current.clone(), current.clone()), "round {round}: node {i} before the write");
            }
        }
        let writer = round % 3;
        current = format!("Name {round}");
        let res = nodes[writer].rename_project(token, &project, &current).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        for offset in [1, 2, 0] {
            let reader = (writer + offset) % 3;
            let seen = names_on(&nodes[reader], token, &project).await;
            assert_eq!(
                seen,
                (current.clone(), current.clone()),
                "round {round}: node {reader} served a read from before the write on node {writer}"
            );
        }
    }
});
