//! The service's counts for the admin dashboard, each one indexed query.

use chrono::{DateTime, Duration, Utc};
use devora_domain::JobStatus;
use devora_ports::StorageError;
use devora_ports::admin::AdminStats;
use sea_orm::Value;

use crate::Database;
use crate::generation::sql;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn scalar(db: &Database, text: &str, values: Vec<Value>) -> Result<u64, StorageError> {
    let row =
        sql::one(db.connection(), text, values).await?.ok_or_else(|| StorageError::new("a count returned no row"))?;
    Ok(count(sql::get_i64(&row, "n")?))
}

pub(super) async fn collect(db: &Database, now: DateTime<Utc>) -> Result<AdminStats, StorageError> {
    let day = now - Duration::hours(24);
    let week = now - Duration::days(7);
    let conn = db.connection();
    let mut stats = AdminStats {
        users_total: scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users", vec![]).await?,
        users_new_7d: scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users WHERE created_at >= $1", vec![week.into()]).await?,
        users_suspended: scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users WHERE status = 'suspended'", vec![]).await?,
        projects: scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM projects", vec![]).await?,
        tokens_24h: scalar(
            db,
            "SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS n FROM generation_jobs WHERE created_at >= $1",
            vec![day.into()],
        )
        .await?,
        webhooks_received_24h: scalar(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM billing_events WHERE received_at >= $1",
            vec![day.into()],
        )
        .await?,
        webhooks_failed_24h: scalar(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM billing_webhook_failures WHERE failed_at >= $1",
            vec![day.into()],
        )
        .await?,
        webhooks_pending: scalar(
            db,
            "SELECT CAST(COUNT(DISTINCT f.event_id) AS BIGINT) AS n FROM billing_webhook_failures f \
             WHERE f.failed_at >= $1 AND NOT EXISTS (SELECT 1 FROM billing_events e WHERE e.event_id = f.event_id)",
            vec![day.into()],
        )
        .await?,
        ..AdminStats::default()
    };
    for row in sql::all(
        conn,
        "SELECT plan_id, status, CAST(COUNT(*) AS BIGINT) AS n FROM billing_subscriptions GROUP BY plan_id, status ORDER BY plan_id, status",
        vec![],
    )
    .await?
    {
        let plan: String = row.try_get("", "plan_id").map_err(crate::errors::storage)?;
        let status: String = row.try_get("", "status").map_err(crate::errors::storage)?;
        stats.subscriptions.push((plan, status, count(sql::get_i64(&row, "n")?)));
    }
    for row in sql::all(
        conn,
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM generation_jobs WHERE created_at >= $1 GROUP BY status",
        vec![day.into()],
    )
    .await?
    {
        let status: String = row.try_get("", "status").map_err(crate::errors::storage)?;
        if let Some(status) = JobStatus::parse(&status) {
            stats.jobs_24h.push((status, count(sql::get_i64(&row, "n")?)));
        }
    }
    Ok(stats)
}
