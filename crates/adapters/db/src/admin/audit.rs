//! The audit log: appended only (no update or delete exists), read newest first.

use devora_domain::admin::{AuditAction, AuditActor, AuditEntry, AuditEntryId};
use devora_ports::admin::{AuditFilter, NewAuditEntry};
use devora_ports::{Page, PageCursor, StorageError};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::audit_log;
use crate::errors::{corrupt, storage};
use crate::projects::{cut_page, older_than};

/// Appends `entry` on `conn` (a transaction, to record a change with it).
pub(crate) async fn append(conn: &impl ConnectionTrait, entry: NewAuditEntry) -> Result<(), StorageError> {
    let cut = |s: Option<String>, n: usize| s.map(|s| s.chars().take(n).collect::<String>());
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(AuditEntryId::new().as_uuid()),
        actor: Set(entry.context.actor.as_string()),
        action: Set(entry.action.as_str().to_owned()),
        target_type: Set(entry.target_type.to_owned()),
        target_id: Set(cut(entry.target_id, 64)),
        before: Set(entry.before),
        after: Set(entry.after),
        ip: Set(cut(entry.context.ip, 64)),
        request_id: Set(cut(entry.context.request_id, 128)),
        created_at: Set(entry.context.now),
    })
    .exec(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

fn entry_from_row(row: audit_log::Model) -> Result<AuditEntry, StorageError> {
    Ok(AuditEntry {
        id: AuditEntryId::from_uuid(row.id),
        actor: AuditActor::parse(&row.actor).ok_or_else(|| corrupt("audit_log.actor"))?,
        action: AuditAction::parse(&row.action).ok_or_else(|| corrupt("audit_log.action"))?,
        target_type: row.target_type,
        target_id: row.target_id,
        before: row.before,
        after: row.after,
        ip: row.ip,
        request_id: row.request_id,
        created_at: row.created_at,
    })
}

pub(crate) async fn list(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
    after: Option<PageCursor>,
    limit: u32,
) -> Result<Page<AuditEntry>, StorageError> {
    use audit_log::Column as C;
    let mut query = audit_log::Entity::find();
    if let Some(actor) = &filter.actor {
        query = query.filter(C::Actor.eq(actor.as_string()));
    }
    if let Some(target) = &filter.target_id {
        query = query.filter(C::TargetId.eq(target.as_str()));
    }
    if let Some(action) = filter.action {
        query = query.filter(C::Action.eq(action.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(C::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(C::CreatedAt.lt(to));
    }
    if let Some(c) = after {
        query = query.filter(older_than(C::CreatedAt, C::Id, c));
    }
    let mut rows = query
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .limit(u64::from(limit) + 1)
        .all(conn)
        .await
        .map_err(storage)?;
    let next = cut_page(&mut rows, limit, |r| PageCursor { created_at: r.created_at, id: r.id });
    Ok(Page { items: rows.into_iter().map(entry_from_row).collect::<Result<_, _>>()?, next })
}
