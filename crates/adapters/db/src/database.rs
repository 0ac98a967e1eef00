use std::time::Duration;

use async_trait::async_trait;
use devora_ports::{Probe, ProbeError};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;

#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    /// Bound on opening a connection and on waiting for a pooled one.
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up.
    pub sqlite_busy_timeout: Duration,
    /// Postgres cancels a statement (a slow query, a lock wait) after this long,
    /// so one stuck statement cannot hold a pooled connection indefinitely.
    /// Migrations are exempt.
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Which backend a `DATABASE_URL` names, if any we support.
    #[must_use]
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("could not connect to the database: {0}")]
    Connect(#[source] sea_orm::DbErr),
    #[error("migration failed: {0}")]
    Migrate(#[source] sea_orm::DbErr),
}

/// The pooled connection, shared by every repository.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
}

/// An arbitrary constant naming our migration lock among Postgres advisory locks.
const MIGRATION_LOCK_KEY: i64 = 0x6465_766f_7261; // "devora"

impl Database {
    /// Opens the pool. SQLite gets WAL, a busy timeout, foreign keys and
    /// `synchronous=NORMAL` on every connection.
    ///
    /// # Errors
    /// [`DbError::UnsupportedUrl`] or [`DbError::Connect`].
    pub async fn connect(config: &DbConfig) -> Result<Self, DbError> {
        let backend = Backend::from_url(&config.url).ok_or(DbError::UnsupportedUrl)?;
        let mut options = ConnectOptions::new(config.url.clone());
        options
            .max_connections(config.max_connections.max(1))
            .min_connections(config.min_connections.min(config.max_connections))
            .connect_timeout(config.connect_timeout)
            .acquire_timeout(config.connect_timeout)
            .idle_timeout(config.idle_timeout)
            .sqlx_logging(false);
        let busy = config.sqlite_busy_timeout;
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
        let statement_timeout = format!("{}ms", config.statement_timeout.as_millis());
        options.map_sqlx_postgres_opts(move |opts| opts.options([("statement_timeout", statement_timeout.as_str())]));
        let conn = sea_orm::Database::connect(options).await.map_err(DbError::Connect)?;
        Ok(Self { conn, backend })
    }

    /// Applies pending migrations. On Postgres the run holds an advisory lock in
    /// one transaction, so nodes starting together migrate once, in order.
    ///
    /// # Errors
    /// [`DbError::Migrate`].
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => Migrator::up(&self.conn, None).await.map_err(DbError::Migrate),
            Backend::Postgres => {
                let txn = self.conn.begin().await.map_err(DbError::Migrate)?;
                // A migration may legitimately run longer than a request's statement.
                txn.execute_unprepared("SET LOCAL statement_timeout = 0").await.map_err(DbError::Migrate)?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
                    .await
                    .map_err(DbError::Migrate)?;
                Migrator::up(&txn, None).await.map_err(DbError::Migrate)?;
                txn.commit().await.map_err(DbError::Migrate)
            }
        }
    }

    /// Names of the migrations applied so far, oldest first.
    ///
    /// # Errors
    /// When the migration table cannot be read.
    pub async fn applied_migrations(&self) -> Result<Vec<String>, sea_orm::DbErr> {
        Ok(Migrator::get_applied_migrations(&self.conn).await?.iter().map(|m| m.name().to_owned()).collect())
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Publishes the pool's size and idle count as gauges (called before a scrape).
    pub fn record_pool_metrics(&self) {
        let (size, idle) = match self.conn.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.conn.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let backend = self.backend.as_str();
        metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "open").set(f64::from(size));
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "idle").set(idle as f64);
    }

    /// Closes every pooled connection (on shutdown).
    pub async fn close(&self) {
        if let Err(err) = self.conn.close_by_ref().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
    }
}

#[async_trait]
impl Probe for Database {
    async fn check(&self) -> Result<(), ProbeError> {
        self.conn.ping().await.map_err(|err| {
            tracing::warn!(error = %err, "database ping failed");
            ProbeError::Unreachable
        })
    }

    fn backend(&self) -> &'static str {
        self.backend.as_str()
    }
}
