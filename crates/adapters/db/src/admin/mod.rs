//! Administration: account search, account changes recorded with their audit
//! entry in one transaction, the audit log, footprints and counts.

mod audit;
mod stats;

pub(crate) use audit::append as append_audit;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::admin::{AuditAction, UserPatch, check_change};
use devora_domain::{IdentityProviderId, Role, SessionId, User, UserId, UserStatus};
use devora_ports::admin::{
    AccountFootprint, AdminStats, AdminStore, AuditContext, AuditFilter, ChangeUserError, NewAuditEntry, UserChange,
    UserSearch,
};
use devora_ports::{Page, PageCursor, StorageError};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::Database;
use crate::auth::{revoke_ids, user_from_row};
use crate::entity::{oauth_identities, project_files, projects, sessions, users};
use crate::errors::storage;
use crate::projects::{cut_page, older_than};

/// An account's role and status, as an audit entry's before or after.
fn state_json(user: &User) -> String {
    format!(r#"{{"role":"{}","status":"{}"}}"#, user.role.as_str(), user.status.as_str())
}

fn action_of(before: &User, after: &User) -> AuditAction {
    match (before.status, after.status) {
        (UserStatus::Active, UserStatus::Suspended) => AuditAction::UserSuspended,
        (UserStatus::Suspended, UserStatus::Active) => AuditAction::UserReactivated,
        _ => AuditAction::UserRoleChanged,
    }
}

#[async_trait]
impl AdminStore for Database {
    async fn search_users(
        &self,
        search: &UserSearch,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<User>, StorageError> {
        use users::Column as C;
        let mut query = users::Entity::find();
        if let Some(prefix) = search.prefix.as_deref().map(str::to_lowercase).filter(|p| !p.is_empty()) {
            // LIKE's own wildcards in the prefix are matched literally.
            let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = format!("{escaped}%");
            query = query.filter(
                Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(C::Email)))
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    )
                    .add(
                        Expr::expr(Func::lower(Expr::col(C::Name)))
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    ),
            );
        }
        if let Some(role) = search.role {
            query = query.filter(C::Role.eq(role.as_str()));
        }
        if let Some(status) = search.status {
            query = query.filter(C::Status.eq(status.as_str()));
        }
        if let Some(c) = after {
            query = query.filter(older_than(C::CreatedAt, C::Id, c));
        }
        let mut rows = query
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .limit(u64::from(limit) + 1)
            .all(self.connection())
            .await
            .map_err(storage)?;
        let next = cut_page(&mut rows, limit, |r| PageCursor { created_at: r.created_at, id: r.id });
        Ok(Page { items: rows.into_iter().map(user_from_row).collect::<Result<_, _>>()?, next })
    }

    async fn change_user(
        &self,
        target: UserId,
        patch: UserPatch,
        context: &AuditContext,
    ) -> Result<UserChange, ChangeUserError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // First, hold every admin's row and the target's (Postgres: row locks;
        // SQLite: the write lock): the count of active admins cannot change until
        // this decision commits, so two demotions at once cannot leave none.
        match self.backend() {
            // Row locks taken in one order (by id), so two changes at once cannot deadlock.
            crate::Backend::Postgres => {
                crate::generation::sql::all(
                    &txn,
                    "SELECT id FROM users WHERE role = 'admin' OR id = $1 ORDER BY id FOR NO KEY UPDATE",
                    vec![target.as_uuid().into()],
                )
                .await?;
            }
            // SQLite: the first write takes the database's write lock.
            crate::Backend::Sqlite => {
                users::Entity::update_many()
                    .col_expr(users::Column::UpdatedAt, Expr::col(users::Column::UpdatedAt))
                    .filter(users::Column::Id.eq(target.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(storage)?;
            }
        }
        let Some(row) = users::Entity::find_by_id(target.as_uuid()).one(&txn).await.map_err(storage)? else {
            return Err(ChangeUserError::NotFound);
        };
        let before = user_from_row(row)?;
        let active_admins = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .count(&txn)
            .await
            .map_err(storage)?;
        let actor = match context.actor {
            devora_domain::admin::AuditActor::User(id) => Some(id),
            devora_domain::admin::AuditActor::Cli => None,
        };
        check_change(actor, &before, patch, active_admins).map_err(ChangeUserError::Refused)?;
        let mut after = before.clone();
        after.role = patch.role.unwrap_or(before.role);
        after.status = patch.status.unwrap_or(before.status);
        if after.role == before.role && after.status == before.status {
            return Ok(UserChange { before, after, revoked: Vec::new() });
        }
        after.updated_at = context.now;
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(after.role.as_str()))
            .col_expr(users::Column::Status, Expr::value(after.status.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(context.now))
            .filter(users::Column::Id.eq(target.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        let mut revoked = Vec::new();
        if after.status == UserStatus::Suspended && before.status != UserStatus::Suspended {
            let ids: Vec<_> = sessions::Entity::find()
                .filter(sessions::Column::UserId.eq(target.as_uuid()))
                .filter(sessions::Column::RevokedAt.is_null())
                .all(&txn)
                .await
                .map_err(storage)?
                .into_iter()
                .map(|s| s.id)
                .collect();
            revoke_ids(&txn, &ids, context.now).await?;
            revoked = ids.into_iter().map(SessionId::from_uuid).collect();
        }
        if before.role != after.role {
            // A role change and a status change at once are two entries, each with its own before and after.
            let mid = User { status: before.status, ..after.clone() };
            let entry = |action, from: &User, to: &User| NewAuditEntry {
                context: context.clone(),
                action,
                target_type: "user",
                target_id: Some(target.to_string()),
                before: Some(state_json(from)),
                after: Some(state_json(to)),
            };
            audit::append(&txn, entry(AuditAction::UserRoleChanged, &before, &mid)).await?;
            if mid.status != after.status {
                audit::append(&txn, entry(action_of(&mid, &after), &mid, &after)).await?;
            }
        } else {
            let entry = NewAuditEntry {
                context: context.clone(),
                action: action_of(&before, &after),
                target_type: "user",
                target_id: Some(target.to_string()),
                before: Some(state_json(&before)),
                after: Some(state_json(&after)),
            };
            audit::append(&txn, entry).await?;
        }
        txn.commit().await.map_err(storage)?;
        Ok(UserChange { before, after, revoked })
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StorageError> {
        audit::append(self.connection(), entry).await
    }

    async fn audit_log(
        &self,
        filter: &AuditFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<devora_domain::admin::AuditEntry>, StorageError> {
        audit::list(self.connection(), filter, after, limit).await
    }

    async fn footprint(&self, user: UserId) -> Result<AccountFootprint, StorageError> {
        let owned: Vec<sea_orm::prelude::Uuid> = projects::Entity::find()
            .select_only()
            .column(projects::Column::Id)
            .filter(projects::Column::OwnerId.eq(user.as_uuid()))
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(storage)?;
        let storage_bytes: Option<i64> = if owned.is_empty() {
            None
        } else {
            project_files::Entity::find()
                .select_only()
                .column_as(Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"), "total")
                .filter(project_files::Column::ProjectId.is_in(owned.iter().copied()))
                .into_tuple()
                .one(self.connection())
                .await
                .map_err(storage)?
        };
        let providers: Vec<String> = oauth_identities::Entity::find()
            .select_only()
            .column(oauth_identities::Column::Provider)
            .filter(oauth_identities::Column::UserId.eq(user.as_uuid()))
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(storage)?;
        Ok(AccountFootprint {
            projects: owned.len() as u64,
            storage_bytes: storage_bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0),
            providers: providers.iter().filter_map(|p| IdentityProviderId::parse(p)).collect(),
        })
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<AdminStats, StorageError> {
        stats::collect(self, now).await
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_audit_log_has_no_way_to_change_an_entry() {
        // The log is appended to only: this module holds its one writer, an insert.
        let source = include_str!("audit.rs");
        for verb in ["update_many", "delete_many", "delete_by_id", "::update(", "save("] {
            assert!(!source.contains(verb), "audit.rs must not {verb}");
        }
    }
}
