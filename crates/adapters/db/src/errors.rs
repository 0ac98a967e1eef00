//! Database errors in the ports' terms: a fault, or the store being unavailable
//! for now (answered 503 so clients retry rather than report a bug).

use devora_ports::StorageError;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

pub(crate) fn storage(err: DbErr) -> StorageError {
    if unavailable(&err) { StorageError::unavailable(err) } else { StorageError::new(err) }
}

/// A unique index refused the write (a duplicate key, or a concurrent insert of it).
pub(crate) fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A [`StorageError`] made from a unique-index refusal.
pub(crate) fn unique_violation_storage(err: &StorageError) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<DbErr>().is_some_and(unique_violation) {
            return true;
        }
        next = e.source();
    }
    false
}

pub(crate) fn corrupt(what: &str) -> StorageError {
    StorageError::new(format!("stored row is not valid: {what}"))
}

/// Unreachable, pool exhausted or closed, or refusing work for now: SQLite busy
/// or locked past the busy timeout; Postgres connection exceptions (08), lack of
/// resources (53), a statement cancelled by `statement_timeout` (57014),
/// shutdowns (57P01..57P03), and a deadlock or serialization failure (40P01,
/// 40001: the transaction was rolled back and can simply be retried).
fn unavailable(err: &DbErr) -> bool {
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match &**sqlx_err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                "5" | "6" | "261" | "262" | "517" | "40001" | "40P01" | "57014" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
                || code.starts_with("53")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnAcquireErr;

    use super::*;

    #[test]
    fn connection_failures_are_unavailable_and_faults_are_not() {
        assert!(storage(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)).is_unavailable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let query = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::Io(io))));
        assert!(storage(query).is_unavailable());
        assert!(!storage(DbErr::RecordNotFound("x".into())).is_unavailable());
        let decode = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::RowNotFound)));
        assert!(!storage(decode).is_unavailable());
    }
}
