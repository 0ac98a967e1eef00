//! Storage for projects, their files and conversations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{
    FileMeta, FilePath, Framework, JobId, Message, Project, ProjectDescription, ProjectId, ProjectName, Revision,
    RevisionKind, UserId,
};

pub use devora_domain::ProjectPatch;

use crate::{Page, PageCursor, StorageError};

#[derive(Debug, Clone)]
pub struct NewProject {
    pub id: ProjectId,
    pub owner_id: UserId,
    pub name: ProjectName,
    pub description: Option<ProjectDescription>,
    pub framework: Option<Framework>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateProjectError {
    /// The owner already has `count` projects, and may have `limit`.
    #[error("project limit of {limit} reached ({count} projects)")]
    LimitReached { limit: u32, count: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Bounds on a project's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    pub max_files: u32,
    pub max_project_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PutFileError {
    #[error("the project has its maximum of {limit} files")]
    TooManyFiles { limit: u32 },
    #[error("the project's files would exceed {limit} bytes")]
    ProjectFull { limit: u64 },
    /// The project was deleted meanwhile.
    #[error("project not found")]
    ProjectGone,
    /// A file and a directory cannot share a path (`src` vs `src/main.rs`).
    #[error("{0} already exists as a file or a directory")]
    PathConflict(String),
    /// A change needs a file that is not there (a delete, a rename's source).
    #[error("no file {0}")]
    FileMissing(String),
    /// A change may not replace this file (a rename's target).
    #[error("{0} already exists")]
    FileExists(String),
    /// The generation job making the change no longer holds its lease: nothing was written.
    #[error("the job's lease was lost")]
    LeaseLost,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A change to one of a project's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Creates or replaces the file; with `create_only`, refuses an existing one.
    Put { path: FilePath, content: Vec<u8>, sha256: String, create_only: bool },
    /// Removes the file, which must exist.
    Delete { path: FilePath },
}

impl FileChange {
    #[must_use]
    pub fn path(&self) -> &FilePath {
        match self {
            Self::Put { path, .. } | Self::Delete { path } => path,
        }
    }
}

/// The revision that records a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionTarget {
    /// A new revision of this kind.
    New { kind: RevisionKind, job: Option<JobId> },
    /// Revision `n` (a job's, growing as its operations are applied). A path it
    /// already changed keeps its first `before`.
    Append(u64),
}

/// A generation job's hold on its work: changes it makes are written only while
/// this fencing token is current (checked in the same transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLease {
    pub job: JobId,
    pub fence: i64,
}

/// What applying changes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChanges {
    /// The revision that records them; `None` when nothing changed (a new
    /// revision is made only for a real change).
    pub revision: Option<u64>,
    /// The files written, as they are now.
    pub written: Vec<FileMeta>,
    /// Whether the first change created its file.
    pub created: bool,
}

/// A page of revisions, newest first; `next` is the number to continue below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionPage {
    pub items: Vec<Revision>,
    pub next: Option<u64>,
}

#[async_trait]
pub trait ProjectRepository: Send + Sync + 'static {
    /// Creates the project unless its owner already has `max_projects`; the count
    /// and the insert are atomic per owner, and `created_at` is assigned under the
    /// owner's lock (never before `project.now`), so commit order is cursor order.
    ///
    /// # Errors
    /// [`CreateProjectError`].
    async fn create(&self, project: NewProject, max_projects: u32) -> Result<Project, CreateProjectError>;

    /// The owner's projects, newest first, after `after`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list(&self, owner: UserId, after: Option<PageCursor>, limit: u32) -> Result<Page<Project>, StorageError>;

    /// Any project by id; the caller checks ownership.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn find(&self, id: ProjectId) -> Result<Option<Project>, StorageError>;

    /// Applies `patch` to the owner's project; `None` when there is no such project of theirs.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn update(
        &self,
        owner: UserId,
        id: ProjectId,
        patch: &ProjectPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Project>, StorageError>;

    /// Deletes the owner's project with its files and messages; `false` when there is none.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn delete(&self, owner: UserId, id: ProjectId) -> Result<bool, StorageError>;

    /// The project's files, by path.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list_files(&self, project: ProjectId) -> Result<Vec<FileMeta>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn read_file(&self, project: ProjectId, path: &FilePath)
    -> Result<Option<(FileMeta, Vec<u8>)>, StorageError>;

    /// Creates or replaces a file within `limits` (checked atomically per project);
    /// `true` when it was created.
    ///
    /// # Errors
    /// [`PutFileError`].
    async fn put_file(
        &self,
        project: ProjectId,
        path: &FilePath,
        content: &[u8],
        sha256: &str,
        now: DateTime<Utc>,
        limits: FileLimits,
    ) -> Result<(FileMeta, bool), PutFileError>;

    /// Deletes a file, recorded as a revision of its own; `false` when there was none.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn delete_file(&self, project: ProjectId, path: &FilePath) -> Result<bool, StorageError>;

    /// Applies `changes` together (all or none) under the project's lock, within
    /// `limits`, and records them in `target`: each path with its content's
    /// SHA-256 before and after. Contents are stored once per SHA-256. With a
    /// `lease`, nothing is written unless that job still runs under that token
    /// ([`PutFileError::LeaseLost`]). `Append(n)` to a revision that is no longer
    /// the project's newest starts a new revision of the same job instead.
    ///
    /// # Errors
    /// [`PutFileError`]: a limit, a path conflict, a missing or existing file, the project gone.
    async fn apply_changes(
        &self,
        project: ProjectId,
        changes: Vec<FileChange>,
        target: RevisionTarget,
        now: DateTime<Utc>,
        limits: FileLimits,
        lease: Option<JobLease>,
    ) -> Result<AppliedChanges, PutFileError>;

    /// The newest revision holding `job`'s changes, if it made any.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn job_revision(&self, project: ProjectId, job: JobId) -> Result<Option<u64>, StorageError>;

    /// Sets a revision's summary (a job's, once it is known).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn set_revision_summary(&self, project: ProjectId, number: u64, summary: &str) -> Result<(), StorageError>;

    /// The project's revisions, newest first, below `before` (all when `None`).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list_revisions(
        &self,
        project: ProjectId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<RevisionPage, StorageError>;

    /// One revision with its changes.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn revision(&self, project: ProjectId, number: u64) -> Result<Option<Revision>, StorageError>;

    /// Returns the files to their state after revision `number`, as a new
    /// revision (by [`devora_domain::projects::state_after`], under the project's
    /// lock); `None` when there is no such revision.
    ///
    /// # Errors
    /// [`PutFileError`] (a restore can break today's limits) or storage.
    async fn restore(
        &self,
        project: ProjectId,
        number: u64,
        now: DateTime<Utc>,
        limits: FileLimits,
    ) -> Result<Option<Revision>, PutFileError>;

    /// The conversation, oldest first, after `after`.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list_messages(
        &self,
        project: ProjectId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Message>, StorageError>;

    /// Appends the message, its `created_at` assigned under the project's lock so
    /// that commit order is cursor order; `None` when the project is gone.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn add_message(&self, message: &Message) -> Result<Option<Message>, StorageError>;
}
