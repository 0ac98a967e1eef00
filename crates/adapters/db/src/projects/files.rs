//! A project's files: contents stored once per SHA-256 (`file_blobs`), the live
//! tree (`project_files`), and every change recorded in a revision. All writes
//! go through [`apply_locked`], under the project's lock.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use devora_domain::{FileMeta, FilePath, ProjectId, RevisionKind};
use devora_ports::{AppliedChanges, FileChange, FileLimits, PutFileError, RevisionTarget, StorageError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::{file_blobs, project_files, revision_changes, revisions};
use crate::errors::storage;

/// A file as the tree holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    size: i64,
    sha256: String,
}

impl Entry {
    pub(super) fn sha256(&self) -> &str {
        &self.sha256
    }
}

pub(super) async fn tree(
    txn: &DatabaseTransaction,
    project: ProjectId,
) -> Result<HashMap<String, Entry>, StorageError> {
    let rows: Vec<(String, i64, String)> = project_files::Entity::find()
        .select_only()
        .column(project_files::Column::Path)
        .column(project_files::Column::Size)
        .column(project_files::Column::Sha256)
        .filter(project_files::Column::ProjectId.eq(project.as_uuid()))
        .into_tuple()
        .all(txn)
        .await
        .map_err(storage)?;
    Ok(rows.into_iter().map(|(path, size, sha256)| (path, Entry { size, sha256 })).collect())
}

/// A file and a directory cannot share a path: `new` clashes with `existing`
/// when one is a directory of the other.
fn clashes(new: &str, existing: &str) -> bool {
    new.strip_prefix(existing).is_some_and(|rest| rest.starts_with('/'))
        || existing.strip_prefix(new).is_some_and(|rest| rest.starts_with('/'))
}

/// Applies `changes` in order to the project's tree, the lock already held:
/// checks every rule first, then writes the net change of each path, its
/// content once per SHA-256, and records it in `target` (no revision when
/// nothing changed).
pub(super) async fn apply_locked(
    txn: &DatabaseTransaction,
    project: ProjectId,
    changes: Vec<FileChange>,
    target: RevisionTarget,
    restored_from: Option<u64>,
    now: DateTime<Utc>,
    limits: FileLimits,
) -> Result<AppliedChanges, PutFileError> {
    let before = tree(txn, project).await?;
    let mut after = before.clone();
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    let mut created = None;
    for change in changes {
        match change {
            FileChange::Put { path, content, sha256, create_only } => {
                let existing = after.get(path.as_str());
                if create_only && existing.is_some() {
                    return Err(PutFileError::FileExists(path.as_str().to_owned()));
                }
                if existing.is_none()
                    && let Some(clash) = after.keys().find(|p| clashes(path.as_str(), p))
                {
                    return Err(PutFileError::PathConflict(clash.clone()));
                }
                created.get_or_insert(existing.is_none());
                let size = i64::try_from(content.len())
                    .map_err(|_| PutFileError::ProjectFull { limit: limits.max_project_bytes })?;
                contents.insert(sha256.clone(), content);
                after.insert(path.as_str().to_owned(), Entry { size, sha256 });
            }
            FileChange::Delete { path } => {
                if after.remove(path.as_str()).is_none() {
                    return Err(PutFileError::FileMissing(path.as_str().to_owned()));
                }
                created.get_or_insert(false);
            }
        }
    }
    // Limits bind a change that grows the project; one that does not (an edit
    // that shrinks, a restore to a smaller state) is allowed even past a limit
    // lowered since.
    let total = |tree: &HashMap<String, Entry>| tree.values().map(|e| e.size).sum::<i64>();
    if after.len() > before.len() && after.len() > limits.max_files as usize {
        return Err(PutFileError::TooManyFiles { limit: limits.max_files });
    }
    if total(&after) > total(&before) && u64::try_from(total(&after)).unwrap_or(u64::MAX) > limits.max_project_bytes {
        return Err(PutFileError::ProjectFull { limit: limits.max_project_bytes });
    }
    // The net change of each path, in path order.
    let mut net: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for path in before.keys().chain(after.keys()) {
        let old = before.get(path).map(|e| e.sha256.clone());
        let new = after.get(path).map(|e| e.sha256.clone());
        if old != new {
            net.insert(path.clone(), (old, new));
        }
    }
    let mut written = Vec::new();
    for (path, (_, new)) in &net {
        match (new, after.get(path)) {
            (Some(sha256), Some(entry)) => {
                if let Some(content) = contents.remove(sha256) {
                    file_blobs::Entity::insert(file_blobs::ActiveModel {
                        project_id: Set(project.as_uuid()),
                        sha256: Set(sha256.clone()),
                        content: Set(content),
                    })
                    .on_conflict(OnConflict::new().do_nothing().to_owned())
                    .try_insert()
                    .exec(txn)
                    .await
                    .map_err(storage)?;
                }
                let row = project_files::ActiveModel {
                    project_id: Set(project.as_uuid()),
                    path: Set(path.clone()),
                    size: Set(entry.size),
                    sha256: Set(sha256.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                };
                use project_files::Column as C;
                project_files::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([C::ProjectId, C::Path])
                            .update_columns([C::Size, C::Sha256, C::UpdatedAt])
                            .to_owned(),
                    )
                    .exec(txn)
                    .await
                    .map_err(storage)?;
                if let Ok(path) = FilePath::parse(path) {
                    written.push(FileMeta {
                        path,
                        size: entry.size.unsigned_abs(),
                        sha256: sha256.clone(),
                        updated_at: now,
                    });
                }
            }
            _ => {
                project_files::Entity::delete_by_id((project.as_uuid(), path.clone()))
                    .exec(txn)
                    .await
                    .map_err(storage)?;
            }
        }
    }
    let created = created.unwrap_or(false);
    if net.is_empty() {
        let revision = match target {
            RevisionTarget::Append(n) => Some(n),
            RevisionTarget::New { .. } => None,
        };
        return Ok(AppliedChanges { revision, written, created });
    }
    let number = record(txn, project, target, restored_from, &net, now).await?;
    Ok(AppliedChanges { revision: Some(number), written, created })
}

/// Records the net changes in `target`; the revision's number.
async fn record(
    txn: &DatabaseTransaction,
    project: ProjectId,
    target: RevisionTarget,
    restored_from: Option<u64>,
    net: &BTreeMap<String, (Option<String>, Option<String>)>,
    now: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let newest: Option<i64> = revisions::Entity::find()
        .select_only()
        .column_as(Expr::cust("MAX(number)"), "n")
        .filter(revisions::Column::ProjectId.eq(project.as_uuid()))
        .into_tuple()
        .one(txn)
        .await
        .map_err(storage)?
        .flatten();
    // A job's revision that is no longer the newest (another change came in
    // between) is not appended to: its history would no longer read in order.
    let target = match target {
        RevisionTarget::Append(n) if newest.is_some_and(|newest| newest > i64::try_from(n).unwrap_or(i64::MAX)) => {
            let job = revisions::Entity::find_by_id((project.as_uuid(), i64::try_from(n).unwrap_or(i64::MAX)))
                .one(txn)
                .await
                .map_err(storage)?
                .and_then(|r| r.job_id)
                .map(devora_domain::JobId::from_uuid);
            RevisionTarget::New { kind: RevisionKind::Job, job }
        }
        target => target,
    };
    let number = match target {
        RevisionTarget::New { kind, job } => {
            let number = newest.unwrap_or(0) + 1;
            revisions::Entity::insert(revisions::ActiveModel {
                project_id: Set(project.as_uuid()),
                number: Set(number),
                kind: Set(kind.as_str().to_owned()),
                job_id: Set(job.map(|j| j.as_uuid())),
                summary: Set(None),
                restored_from: Set(restored_from.and_then(|n| i64::try_from(n).ok())),
                created_at: Set(now),
            })
            .exec(txn)
            .await
            .map_err(storage)?;
            number
        }
        RevisionTarget::Append(n) => i64::try_from(n).map_err(|_| StorageError::new("revision number out of range"))?,
    };
    for (path, (old, new)) in net {
        let key = (project.as_uuid(), number, path.clone());
        let recorded = revision_changes::Entity::find_by_id(key.clone()).one(txn).await.map_err(storage)?;
        match recorded {
            // The revision changed this path already: it keeps its first `before`.
            Some(row) if row.before_sha256 == *new => {
                revision_changes::Entity::delete_by_id(key).exec(txn).await.map_err(storage)?;
            }
            Some(_) => {
                revision_changes::Entity::update_many()
                    .col_expr(revision_changes::Column::AfterSha256, Expr::value(new.clone()))
                    .filter(revision_changes::Column::ProjectId.eq(project.as_uuid()))
                    .filter(revision_changes::Column::Number.eq(number))
                    .filter(revision_changes::Column::Path.eq(path.as_str()))
                    .exec(txn)
                    .await
                    .map_err(storage)?;
            }
            None => {
                revision_changes::Entity::insert(revision_changes::ActiveModel {
                    project_id: Set(project.as_uuid()),
                    number: Set(number),
                    path: Set(path.clone()),
                    before_sha256: Set(old.clone()),
                    after_sha256: Set(new.clone()),
                })
                .exec(txn)
                .await
                .map_err(storage)?;
            }
        }
    }
    u64::try_from(number).map_err(|_| StorageError::new("revision number out of range"))
}

/// The kind a stored revision row names.
pub(super) fn kind_of(raw: &str) -> Result<RevisionKind, StorageError> {
    RevisionKind::parse(raw).ok_or_else(|| crate::errors::corrupt("revisions.kind"))
}

/// A blob's content.
pub(super) async fn blob(
    txn: &DatabaseTransaction,
    project: ProjectId,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    let row = file_blobs::Entity::find_by_id((project.as_uuid(), sha256.to_owned())).one(txn).await.map_err(storage)?;
    Ok(row.map(|r| r.content))
}
