//! Several real `devora-server` processes of one deployment: one Postgres
//! database and one Redis key prefix shared by every node, one JWT secret (each
//! node accepts the others' tokens), clients addressing each node directly.

use std::collections::HashMap;

use super::endpoint::Endpoint;
use super::isolation::{PgDatabase, RedisPrefix};
use super::process::ServerProcess;
use super::variants::redis_url;

/// The JWT secret every node of a test cluster signs and checks tokens with.
pub const CLUSTER_JWT_SECRET: &str = "cluster-secret-cluster-secret-cluster-0123";

/// What a [`Cluster`] runs on; the defaults are a fresh database on the test
/// Postgres and a fresh key prefix on the test Redis.
#[derive(Default)]
pub struct ClusterOptions {
    /// How many nodes to start (at least one).
    pub nodes: usize,
    /// Variables for every node (override the harness's).
    pub env: Vec<(String, String)>,
    /// Variables for node `i` only (override `env`); nodes past the end get none.
    pub per_node: Vec<Vec<(String, String)>>,
    /// Use this database (a private Postgres instance) instead of a fresh one.
    pub database_url: Option<String>,
    /// Use this Redis (a private instance) instead of the test Redis.
    pub redis_url: Option<String>,
    /// No Redis at all (in-process cache and limiter on each node).
    pub without_redis: bool,
}

impl ClusterOptions {
    /// `nodes` nodes with these extra variables.
    #[must_use]
    pub fn new(nodes: usize, env: &[(&str, &str)]) -> Self {
        Self { nodes, env: owned(env), ..Self::default() }
    }
}

/// `(name, value)` pairs as owned strings.
#[must_use]
pub fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Running nodes and the database and key prefix they share, all removed on drop
/// (the processes killed first).
pub struct Cluster {
    pub nodes: Vec<ServerProcess>,
    env: HashMap<String, String>,
    /// The shared database's URL.
    pub database_url: String,
    _redis: Option<RedisPrefix>,
    _pg: Option<PgDatabase>,
}

impl Cluster {
    /// Starts the nodes one after the other (the first applies the migrations).
    pub async fn start(options: ClusterOptions) -> Self {
        let ClusterOptions { nodes, env: extra, per_node, database_url, redis_url: private_redis, without_redis } =
            options;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (pg, database_url) = match database_url {
            Some(url) => (None, url),
            None => {
                let db = PgDatabase::create().await;
                let url = db.url();
                (Some(db), url)
            }
        };
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("DATABASE_URL".into(), database_url.clone());
        env.insert("DATABASE_CONNECT_TIMEOUT_SECS".into(), "2".into());
        // Three nodes (and other tests) share the test Postgres's connections.
        env.insert("DATABASE_MAX_CONNECTIONS".into(), "5".into());
        env.insert("JWT_SECRET".into(), CLUSTER_JWT_SECRET.into());
        env.insert("HTTP_WORKERS".into(), "2".into());
        env.insert("SHUTDOWN_TIMEOUT_SECS".into(), "5".into());
        for policy in [
            "RATE_LIMIT_AUTH",
            "RATE_LIMIT_LOGIN",
            "RATE_LIMIT_LOGIN_IP",
            "RATE_LIMIT_WRITES",
            "RATE_LIMIT_READS",
            "RATE_LIMIT_PUBLIC",
            "RATE_LIMIT_WEBHOOK",
        ] {
            env.insert(policy.into(), "100000/min".into());
        }
        env.insert("FREE_PLAN_MAX_PROJECTS".into(), "100000".into());
        let mut prefix = None;
        if !without_redis {
            let key_prefix = format!("devora-test:{}:", uuid::Uuid::new_v4().simple());
            env.insert("REDIS_URL".into(), private_redis.clone().unwrap_or_else(redis_url));
            env.insert("REDIS_KEY_PREFIX".into(), key_prefix.clone());
            // A private Redis is removed whole; only the shared one needs its keys deleted.
            if private_redis.is_none() {
                prefix = Some(RedisPrefix { prefix: key_prefix });
            }
        }
        env.extend(extra);
        let mut cluster = Self { nodes: Vec::new(), env, database_url, _redis: prefix, _pg: pg };
        for i in 0..nodes.max(1) {
            let own = per_node.get(i).cloned().unwrap_or_default();
            cluster.start_node(own).await;
        }
        cluster
    }

    /// Starts one more node of this deployment with these extra variables; its index.
    pub async fn start_node(&mut self, extra: Vec<(String, String)>) -> usize {
        let mut env = self.env.clone();
        env.extend(extra);
        self.nodes.push(ServerProcess::start(&env).await);
        self.nodes.len() - 1
    }

    /// A client for node `i`.
    #[must_use]
    pub fn node(&self, i: usize) -> Endpoint {
        Endpoint::new(self.nodes[i].port)
    }

    /// A client for every node, in order.
    #[must_use]
    pub fn endpoints(&self) -> Vec<Endpoint> {
        (0..self.nodes.len()).map(|i| self.node(i)).collect()
    }

    /// The variables every node was started with.
    #[must_use]
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The processes go before their database is dropped and their keys deleted.
        self.nodes.clear();
    }
}
