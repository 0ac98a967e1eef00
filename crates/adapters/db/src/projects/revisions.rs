//! Reading revisions, and restoring a project's files to one.

use chrono::{DateTime, Utc};
use devora_domain::projects::{RecordedChange, state_after};
use devora_domain::{FilePath, JobId, ProjectId, Revision, RevisionChange, RevisionKind};
use devora_ports::{FileChange, FileLimits, PutFileError, RevisionPage, RevisionTarget, StorageError};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use super::files::{apply_locked, blob, kind_of, tree};
use super::lock_project;
use crate::Database;
use crate::entity::{revision_changes, revisions};
use crate::errors::{corrupt, storage};

fn number(n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| corrupt("revisions.number"))
}

async fn changes_of(
    conn: &impl ConnectionTrait,
    project: ProjectId,
    numbers: &[i64],
) -> Result<Vec<revision_changes::Model>, StorageError> {
    revision_changes::Entity::find()
        .filter(revision_changes::Column::ProjectId.eq(project.as_uuid()))
        .filter(revision_changes::Column::Number.is_in(numbers.iter().copied()))
        .order_by_asc(revision_changes::Column::Path)
        .all(conn)
        .await
        .map_err(storage)
}

fn revision_from(row: revisions::Model, changes: &[revision_changes::Model]) -> Result<Revision, StorageError> {
    let changes = changes
        .iter()
        .filter(|c| c.number == row.number)
        .map(|c| {
            Ok(RevisionChange {
                path: FilePath::parse(&c.path).map_err(|_| corrupt("revision_changes.path"))?,
                before: c.before_sha256.clone(),
                after: c.after_sha256.clone(),
            })
        })
        .collect::<Result<_, StorageError>>()?;
    Ok(Revision {
        number: number(row.number)?,
        kind: kind_of(&row.kind)?,
        job_id: row.job_id.map(JobId::from_uuid),
        summary: row.summary,
        restored_from: row.restored_from.map(number).transpose()?,
        created_at: row.created_at,
        changes,
    })
}

pub(super) async fn list(
    db: &Database,
    project: ProjectId,
    before: Option<u64>,
    limit: u32,
) -> Result<RevisionPage, StorageError> {
    let mut query = revisions::Entity::find().filter(revisions::Column::ProjectId.eq(project.as_uuid()));
    if let Some(before) = before {
        query = query.filter(revisions::Column::Number.lt(i64::try_from(before).unwrap_or(i64::MAX)));
    }
    let mut rows = query
        .order_by_desc(revisions::Column::Number)
        .limit(u64::from(limit) + 1)
        .all(db.connection())
        .await
        .map_err(storage)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let numbers: Vec<i64> = rows.iter().map(|r| r.number).collect();
    let changes = changes_of(db.connection(), project, &numbers).await?;
    let next = if more { rows.last().map(|r| number(r.number)).transpose()? } else { None };
    let items = rows.into_iter().map(|row| revision_from(row, &changes)).collect::<Result<_, _>>()?;
    Ok(RevisionPage { items, next })
}

pub(super) async fn one(db: &Database, project: ProjectId, n: u64) -> Result<Option<Revision>, StorageError> {
    let Ok(n) = i64::try_from(n) else { return Ok(None) };
    let Some(row) =
        revisions::Entity::find_by_id((project.as_uuid(), n)).one(db.connection()).await.map_err(storage)?
    else {
        return Ok(None);
    };
    let changes = changes_of(db.connection(), project, &[n]).await?;
    revision_from(row, &changes).map(Some)
}

pub(super) async fn of_job(db: &Database, project: ProjectId, job: JobId) -> Result<Option<u64>, StorageError> {
    let row = revisions::Entity::find()
        .filter(revisions::Column::ProjectId.eq(project.as_uuid()))
        .filter(revisions::Column::JobId.eq(job.as_uuid()))
        .order_by_desc(revisions::Column::Number)
        .one(db.connection())
        .await
        .map_err(storage)?;
    row.map(|r| number(r.number)).transpose()
}

pub(super) async fn set_summary(db: &Database, project: ProjectId, n: u64, summary: &str) -> Result<(), StorageError> {
    revisions::Entity::update_many()
        .col_expr(revisions::Column::Summary, sea_orm::sea_query::Expr::value(summary.to_owned()))
        .filter(revisions::Column::ProjectId.eq(project.as_uuid()))
        .filter(revisions::Column::Number.eq(i64::try_from(n).unwrap_or(i64::MAX)))
        .exec(db.connection())
        .await
        .map_err(storage)?;
    Ok(())
}

pub(super) async fn restore(
    db: &Database,
    project: ProjectId,
    n: u64,
    now: DateTime<Utc>,
    limits: FileLimits,
) -> Result<Option<Revision>, PutFileError> {
    let Ok(target) = i64::try_from(n) else { return Ok(None) };
    let txn = db.connection().begin().await.map_err(storage)?;
    if !lock_project(&txn, project, None).await? {
        return Err(PutFileError::ProjectGone);
    }
    // Revision 0 is the state before the first one.
    if target > 0
        && revisions::Entity::find_by_id((project.as_uuid(), target)).one(&txn).await.map_err(storage)?.is_none()
    {
        return Ok(None);
    }
    let later: Vec<RecordedChange> = revision_changes::Entity::find()
        .filter(revision_changes::Column::ProjectId.eq(project.as_uuid()))
        .filter(revision_changes::Column::Number.gt(target))
        .all(&txn)
        .await
        .map_err(storage)?
        .into_iter()
        .map(|c| {
            Ok(RecordedChange {
                number: number(c.number)?,
                path: c.path,
                before: c.before_sha256,
                after: c.after_sha256,
            })
        })
        .collect::<Result<_, StorageError>>()?;
    let current = tree(&txn, project).await?;
    let mut changes = Vec::new();
    for (path, wanted) in state_after(n, &later) {
        let path = FilePath::parse(&path).map_err(|_| corrupt("revision_changes.path"))?;
        let now_sha = current.get(path.as_str()).map(|e| e.sha256().to_owned());
        if now_sha == wanted {
            continue;
        }
        match wanted {
            Some(sha256) => {
                let content =
                    blob(&txn, project, &sha256).await?.ok_or_else(|| corrupt("file_blobs (missing content)"))?;
                changes.push(FileChange::Put { path, content, sha256, create_only: false });
            }
            None => changes.push(FileChange::Delete { path }),
        }
    }
    // Deletes first: a restored file may take the place of a directory that goes.
    changes.sort_by_key(|c| matches!(c, FileChange::Put { .. }));
    let applied = apply_locked(
        &txn,
        project,
        changes,
        RevisionTarget::New { kind: RevisionKind::Restore, job: None },
        Some(n),
        now,
        limits,
    )
    .await?;
    txn.commit().await.map_err(storage)?;
    match applied.revision {
        Some(made) => Ok(one(db, project, made).await?),
        // Already in that state: nothing to record; the answer is the revision restored
        // (for 0, the state before the first revision, which has no row: described here).
        None if n == 0 => Ok(Some(Revision {
            number: 0,
            kind: RevisionKind::Restore,
            job_id: None,
            summary: Some("The state before the first revision".to_owned()),
            restored_from: None,
            created_at: now,
            changes: Vec::new(),
        })),
        None => Ok(one(db, project, n).await?),
    }
}
