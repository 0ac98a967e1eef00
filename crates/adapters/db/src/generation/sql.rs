//! Raw statements where sea-query has no words for the SQL (a claim with
//! `FOR UPDATE SKIP LOCKED`, `RETURNING` on conditional updates): written once
//! with `$n` placeholders, numbered in the order they appear, and turned into
//! SQLite's `?` for SQLite.

use devora_ports::StorageError;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::errors::storage;

pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DbBackend::Sqlite => sqlite_placeholders(sql),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

/// `$1 ... $n` -> `?` (the numbers are in order of appearance, each used once).
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `sql` and returns its one row (from `RETURNING` or a `SELECT`), if any.
pub(crate) async fn one(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, StorageError> {
    conn.query_one_raw(statement(conn.get_database_backend(), sql, values)).await.map_err(storage)
}

pub(crate) async fn all(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, StorageError> {
    conn.query_all_raw(statement(conn.get_database_backend(), sql, values)).await.map_err(storage)
}

pub(crate) fn get_i64(row: &QueryResult, column: &str) -> Result<i64, StorageError> {
    row.try_get::<i64>("", column).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_question_marks_for_sqlite() {
        assert_eq!(sqlite_placeholders("a = $1 AND b = $12 AND c = '$x'"), "a = ? AND b = ? AND c = '$x'");
    }
}
