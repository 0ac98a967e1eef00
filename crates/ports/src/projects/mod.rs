//! Storage for projects, their files and conversations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{
    FileMeta, FilePath, Framework, Message, Project, ProjectDescription, ProjectId, ProjectName, UserId,
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
    #[error(transparent)]
    Storage(#[from] StorageError),
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

    /// # Errors
    /// [`StorageError`].
    async fn delete_file(&self, project: ProjectId, path: &FilePath) -> Result<bool, StorageError>;

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
