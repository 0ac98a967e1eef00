//! Projects, their files and their conversations.

mod files;
mod revisions;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{
    FileMeta, FilePath, Framework, Message, MessageContent, MessageId, MessageRole, Project, ProjectDescription,
    ProjectId, ProjectName, Revision, RevisionKind, UserId,
};
use devora_ports::{
    AppliedChanges, CreateProjectError, FileChange, FileLimits, JobLease, NewProject, Page, PageCursor, ProjectPatch,
    ProjectRepository, PutFileError, RevisionPage, RevisionTarget, StorageError,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::Database;
use crate::entity::{file_blobs, messages, project_files, projects, users};
use crate::errors::{corrupt, storage};

fn project_from_row(row: projects::Model) -> Result<Project, StorageError> {
    Ok(Project {
        id: ProjectId::from_uuid(row.id),
        owner_id: UserId::from_uuid(row.owner_id),
        name: ProjectName::parse(&row.name).map_err(|_| corrupt("projects.name"))?,
        description: match row.description {
            Some(d) => ProjectDescription::parse(&d).map_err(|_| corrupt("projects.description"))?,
            None => None,
        },
        framework: match row.framework {
            Some(f) => Some(Framework::parse(&f).ok_or_else(|| corrupt("projects.framework"))?),
            None => None,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn file_meta(path: &str, size: i64, sha256: String, updated_at: DateTime<Utc>) -> Result<FileMeta, StorageError> {
    Ok(FileMeta {
        path: FilePath::parse(path).map_err(|_| corrupt("project_files.path"))?,
        size: u64::try_from(size).map_err(|_| corrupt("project_files.size"))?,
        sha256,
        updated_at,
    })
}

fn message_from_row(row: messages::Model) -> Result<Message, StorageError> {
    Ok(Message {
        id: MessageId::from_uuid(row.id),
        project_id: ProjectId::from_uuid(row.project_id),
        role: MessageRole::parse(&row.role).ok_or_else(|| corrupt("messages.role"))?,
        content: MessageContent::parse(&row.content).map_err(|_| corrupt("messages.content"))?,
        created_at: row.created_at,
    })
}

/// The time to stamp a row with once its parent's lock is held, so rows commit in
/// `created_at` order and keyset pages never skip one: this node's clock, but
/// never earlier than the caller's `now`, and always after the newest sibling
/// (`last`), which another node, whose clock runs ahead, may have stamped.
/// Microseconds, as the databases store.
fn locked_now(requested: DateTime<Utc>, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    let now = Utc::now().trunc_subsecs(6).max(requested);
    match last {
        Some(last) if last >= now => last + chrono::Duration::microseconds(1),
        _ => now,
    }
}

/// Writes the project's row as a transaction's first statement (a no-op update),
/// so Postgres holds its row lock and SQLite its write lock until commit: writes
/// to one project (its row, files, messages) are decided one after another.
/// `false` when the project is gone, or is not `owner`'s when one is given.
async fn lock_project(
    txn: &DatabaseTransaction,
    project: ProjectId,
    owner: Option<UserId>,
) -> Result<bool, StorageError> {
    let mut lock = projects::Entity::update_many()
        .col_expr(projects::Column::UpdatedAt, Expr::col(projects::Column::UpdatedAt))
        .filter(projects::Column::Id.eq(project.as_uuid()));
    if let Some(owner) = owner {
        lock = lock.filter(projects::Column::OwnerId.eq(owner.as_uuid()));
    }
    Ok(lock.exec(txn).await.map_err(storage)?.rows_affected == 1)
}

/// Keyset paging, newest first: the rows after `c` (older, or as old with a smaller id).
pub(crate) fn older_than<C: ColumnTrait>(created_at: C, id: C, c: PageCursor) -> Condition {
    Condition::any()
        .add(created_at.lt(c.created_at))
        .add(Condition::all().add(created_at.eq(c.created_at)).add(id.lt(c.id)))
}

/// Keyset paging: `rows` were fetched with one row over `limit`; keeps `limit` of
/// them and returns the cursor after the last kept one if there was more.
pub(crate) fn cut_page<R>(rows: &mut Vec<R>, limit: u32, cursor: impl Fn(&R) -> PageCursor) -> Option<PageCursor> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if more { rows.last().map(cursor) } else { None }
}

#[async_trait]
impl ProjectRepository for Database {
    async fn create(&self, project: NewProject, max_projects: u32) -> Result<Project, CreateProjectError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // The transaction's first statement writes the owner's row: Postgres holds
        // its row lock and SQLite its write lock until commit, so concurrent
        // creates by one owner count one after another.
        users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::col(users::Column::UpdatedAt))
            .filter(users::Column::Id.eq(project.owner_id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        let count = projects::Entity::find()
            .filter(projects::Column::OwnerId.eq(project.owner_id.as_uuid()))
            .count(&txn)
            .await
            .map_err(storage)?;
        if count >= u64::from(max_projects) {
            return Err(CreateProjectError::LimitReached { limit: max_projects, count });
        }
        let newest = projects::Entity::find()
            .filter(projects::Column::OwnerId.eq(project.owner_id.as_uuid()))
            .order_by_desc(projects::Column::CreatedAt)
            .one(&txn)
            .await
            .map_err(storage)?
            .map(|p| p.created_at);
        let now = locked_now(project.now, newest);
        let row = projects::ActiveModel {
            id: Set(project.id.as_uuid()),
            owner_id: Set(project.owner_id.as_uuid()),
            name: Set(project.name.as_str().to_owned()),
            description: Set(project.description.map(|d| d.as_str().to_owned())),
            framework: Set(project.framework.map(|f| f.as_str().to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(project_from_row(row)?)
    }

    async fn list(&self, owner: UserId, after: Option<PageCursor>, limit: u32) -> Result<Page<Project>, StorageError> {
        let mut query = projects::Entity::find().filter(projects::Column::OwnerId.eq(owner.as_uuid()));
        if let Some(c) = after {
            query = query.filter(older_than(projects::Column::CreatedAt, projects::Column::Id, c));
        }
        let mut rows = query
            .order_by_desc(projects::Column::CreatedAt)
            .order_by_desc(projects::Column::Id)
            .limit(u64::from(limit) + 1)
            .all(self.connection())
            .await
            .map_err(storage)?;
        let next = cut_page(&mut rows, limit, |r| PageCursor { created_at: r.created_at, id: r.id });
        Ok(Page { items: rows.into_iter().map(project_from_row).collect::<Result<_, _>>()?, next })
    }

    async fn find(&self, id: ProjectId) -> Result<Option<Project>, StorageError> {
        projects::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(project_from_row)
            .transpose()
    }

    async fn update(
        &self,
        owner: UserId,
        id: ProjectId,
        patch: &ProjectPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Project>, StorageError> {
        // The patch is decided on the row as it is under its lock: one that
        // changes nothing writes nothing, and `updated_at` stays.
        let txn = self.connection().begin().await.map_err(storage)?;
        if !lock_project(&txn, id, Some(owner)).await? {
            return Ok(None);
        }
        let Some(row) = projects::Entity::find_by_id(id.as_uuid()).one(&txn).await.map_err(storage)? else {
            return Ok(None);
        };
        let current = project_from_row(row)?;
        let Some(patched) = patch.apply(&current, now) else {
            txn.commit().await.map_err(storage)?;
            return Ok(Some(current));
        };
        projects::Entity::update_many()
            .col_expr(projects::Column::Name, Expr::value(patched.name.as_str()))
            .col_expr(
                projects::Column::Description,
                Expr::value(patched.description.as_ref().map(|d| d.as_str().to_owned())),
            )
            .col_expr(projects::Column::Framework, Expr::value(patched.framework.map(|f| f.as_str().to_owned())))
            .col_expr(projects::Column::UpdatedAt, Expr::value(patched.updated_at))
            .filter(projects::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(Some(patched))
    }

    async fn delete(&self, owner: UserId, id: ProjectId) -> Result<bool, StorageError> {
        // Files and messages go with it (ON DELETE CASCADE; SQLite has foreign keys on).
        let result = projects::Entity::delete_many()
            .filter(projects::Column::Id.eq(id.as_uuid()))
            .filter(projects::Column::OwnerId.eq(owner.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn list_files(&self, project: ProjectId) -> Result<Vec<FileMeta>, StorageError> {
        let rows: Vec<(String, i64, String, DateTime<Utc>)> = project_files::Entity::find()
            .select_only()
            .column(project_files::Column::Path)
            .column(project_files::Column::Size)
            .column(project_files::Column::Sha256)
            .column(project_files::Column::UpdatedAt)
            .filter(project_files::Column::ProjectId.eq(project.as_uuid()))
            .order_by_asc(project_files::Column::Path)
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(storage)?;
        rows.into_iter().map(|(path, size, sha, at)| file_meta(&path, size, sha, at)).collect()
    }

    async fn read_file(
        &self,
        project: ProjectId,
        path: &FilePath,
    ) -> Result<Option<(FileMeta, Vec<u8>)>, StorageError> {
        let Some(row) = project_files::Entity::find_by_id((project.as_uuid(), path.as_str().to_owned()))
            .one(self.connection())
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let content = file_blobs::Entity::find_by_id((project.as_uuid(), row.sha256.clone()))
            .one(self.connection())
            .await
            .map_err(storage)?
            .ok_or_else(|| corrupt("file_blobs (missing content)"))?
            .content;
        let meta = file_meta(&row.path, row.size, row.sha256, row.updated_at)?;
        Ok(Some((meta, content)))
    }

    async fn put_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        content: &[u8],
        sha256: &str,
        now: DateTime<Utc>,
        limits: FileLimits,
    ) -> Result<(FileMeta, bool), PutFileError> {
        let change = FileChange::Put {
            path: path.clone(),
            content: content.to_vec(),
            sha256: sha256.to_owned(),
            create_only: false,
        };
        let target = RevisionTarget::New { kind: RevisionKind::Files, job: None };
        let applied = self.apply_changes(project, vec![change], target, now, limits, None).await?;
        // Unchanged content writes nothing: the file is as it was.
        let meta = match applied.written.into_iter().next() {
            Some(meta) => meta,
            None => self
                .read_file(project, path)
                .await?
                .map(|(meta, _)| meta)
                .ok_or_else(|| PutFileError::FileMissing(path.as_str().to_owned()))?,
        };
        Ok((meta, applied.created))
    }

    async fn delete_file(&self, project: ProjectId, path: &FilePath) -> Result<bool, StorageError> {
        let change = FileChange::Delete { path: path.clone() };
        let target = RevisionTarget::New { kind: RevisionKind::Files, job: None };
        let limits = FileLimits { max_files: u32::MAX, max_project_bytes: u64::MAX };
        match self.apply_changes(project, vec![change], target, Utc::now(), limits, None).await {
            Ok(_) => Ok(true),
            Err(PutFileError::FileMissing(_) | PutFileError::ProjectGone) => Ok(false),
            Err(PutFileError::Storage(err)) => Err(err),
            Err(other) => Err(StorageError::new(other.to_string())),
        }
    }

    async fn apply_changes(
        &self,
        project: ProjectId,
        changes: Vec<FileChange>,
        target: RevisionTarget,
        now: DateTime<Utc>,
        limits: FileLimits,
        lease: Option<JobLease>,
    ) -> Result<AppliedChanges, PutFileError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // Lock the project row first: limits, conflicts and revision numbers hold under concurrent writes.
        if !lock_project(&txn, project, None).await? {
            return Err(PutFileError::ProjectGone);
        }
        if let Some(lease) = lease {
            // The job's row, fenced, in this transaction: a worker that lost the job writes nothing.
            if !crate::generation::hold_job(&txn, lease.job, lease.fence).await? {
                return Err(PutFileError::LeaseLost);
            }
        }
        let applied = files::apply_locked(&txn, project, changes, target, None, now, limits).await?;
        txn.commit().await.map_err(storage)?;
        Ok(applied)
    }

    async fn job_revision(&self, project: ProjectId, job: devora_domain::JobId) -> Result<Option<u64>, StorageError> {
        revisions::of_job(self, project, job).await
    }

    async fn set_revision_summary(&self, project: ProjectId, number: u64, summary: &str) -> Result<(), StorageError> {
        revisions::set_summary(self, project, number, summary).await
    }

    async fn list_revisions(
        &self,
        project: ProjectId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<RevisionPage, StorageError> {
        revisions::list(self, project, before, limit).await
    }

    async fn revision(&self, project: ProjectId, number: u64) -> Result<Option<Revision>, StorageError> {
        revisions::one(self, project, number).await
    }

    async fn restore(
        &self,
        project: ProjectId,
        number: u64,
        now: DateTime<Utc>,
        limits: FileLimits,
    ) -> Result<Option<Revision>, PutFileError> {
        revisions::restore(self, project, number, now, limits).await
    }

    async fn list_messages(
        &self,
        project: ProjectId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Message>, StorageError> {
        let mut query = messages::Entity::find().filter(messages::Column::ProjectId.eq(project.as_uuid()));
        if let Some(c) = after {
            query = query.filter(Condition::any().add(messages::Column::CreatedAt.gt(c.created_at)).add(
                Condition::all().add(messages::Column::CreatedAt.eq(c.created_at)).add(messages::Column::Id.gt(c.id)),
            ));
        }
        let mut rows = query
            .order_by_asc(messages::Column::CreatedAt)
            .order_by_asc(messages::Column::Id)
            .limit(u64::from(limit) + 1)
            .all(self.connection())
            .await
            .map_err(storage)?;
        let next = cut_page(&mut rows, limit, |r| PageCursor { created_at: r.created_at, id: r.id });
        Ok(Page { items: rows.into_iter().map(message_from_row).collect::<Result<_, _>>()?, next })
    }

    async fn add_message(&self, message: &Message) -> Result<Option<Message>, StorageError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        if !lock_project(&txn, message.project_id, None).await? {
            return Ok(None);
        }
        let newest = messages::Entity::find()
            .filter(messages::Column::ProjectId.eq(message.project_id.as_uuid()))
            .order_by_desc(messages::Column::CreatedAt)
            .one(&txn)
            .await
            .map_err(storage)?
            .map(|m| m.created_at);
        let created_at = locked_now(message.created_at, newest);
        messages::ActiveModel {
            id: Set(message.id.as_uuid()),
            project_id: Set(message.project_id.as_uuid()),
            role: Set(message.role.as_str().to_owned()),
            content: Set(message.content.as_str().to_owned()),
            created_at: Set(created_at),
        }
        .insert(&txn)
        .await
        .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(Some(Message { created_at, ..message.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_stamped_after_its_newest_sibling_even_from_a_slower_clock() {
        let now = Utc::now();
        let ahead = now + chrono::Duration::seconds(5);
        assert_eq!(locked_now(now, Some(ahead)), ahead + chrono::Duration::microseconds(1));
        let stamped = locked_now(now, None);
        assert!(stamped >= now - chrono::Duration::microseconds(1));
        let behind = stamped - chrono::Duration::seconds(5);
        assert!(locked_now(now, Some(behind)) > behind);
        let requested = now + chrono::Duration::seconds(60);
        assert_eq!(locked_now(requested, None), requested);
    }
}
