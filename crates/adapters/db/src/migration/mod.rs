//! One set of migrations for SQLite and Postgres, written with sea-query so each
//! backend gets its own dialect. Never edit a migration that has shipped; add one.

use sea_orm_migration::prelude::*;

mod m20261124_000001_create_users;
mod m20261124_000002_create_auth;
mod m20261124_000003_create_projects;
mod m20261124_000004_index_idempotency_created;
mod m20261124_000005_bind_sign_ins_and_index_expiry;
mod m20261124_000006_login_code_identity;
mod m20261202_000007_create_billing;
mod m20261207_000008_create_generation;
mod m20261207_000009_create_revisions;
mod m20261207_000010_create_audit_log;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users::Migration),
            Box::new(m20261124_000002_create_auth::Migration),
            Box::new(m20261124_000003_create_projects::Migration),
            Box::new(m20261124_000004_index_idempotency_created::Migration),
            Box::new(m20261124_000005_bind_sign_ins_and_index_expiry::Migration),
            Box::new(m20261124_000006_login_code_identity::Migration),
            Box::new(m20261202_000007_create_billing::Migration),
            Box::new(m20261207_000008_create_generation::Migration),
            Box::new(m20261207_000009_create_revisions::Migration),
            Box::new(m20261207_000010_create_audit_log::Migration),
        ]
    }
}
