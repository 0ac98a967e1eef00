//! What keeps tests apart: each one's own Postgres database, Redis key prefix
//! and directory, each removed when its guard goes.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database};

use super::variants::{postgres_admin_url, redis_url};

/// A test's own Postgres database, dropped when the guard goes.
pub(crate) struct PgDatabase {
    name: String,
}

impl PgDatabase {
    pub(crate) async fn create() -> Self {
        let name = format!("devora_t_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(postgres_admin_url()).await.expect("connect to Postgres");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.ok();
        Self { name }
    }

    pub(crate) fn url(&self) -> String {
        let admin = postgres_admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// A test's own Redis key prefix, whose keys are deleted when the guard goes.
pub(crate) struct RedisPrefix {
    pub(crate) prefix: String,
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use deadpool_redis::redis;
                let Ok(client) = redis::Client::open(redis_url()) else { return };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
                let mut cursor: u64 = 0;
                loop {
                    let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                    else {
                        return;
                    };
                    if !keys.is_empty() {
                        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                    if next == 0 {
                        return;
                    }
                    cursor = next;
                }
            });
        })
        .join();
    }
}

/// A directory removed on drop (std has no tempdir; this is all we need).
pub struct TempDir(PathBuf);

impl TempDir {
    #[must_use]
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("devora-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
