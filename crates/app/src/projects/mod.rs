//! Projects, files and conversations, owned by their user: every operation
//! checks ownership here, and another user's project is simply not found.
//! Revisions (`revisions.rs`): every change to the files, and restoring them.

mod revisions;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use devora_domain::{
    FileMeta, FilePath, Framework, Message, MessageContent, MessageId, MessageRole, Project, ProjectDescription,
    ProjectId, ProjectName, UserId,
};
use devora_ports::{
    Clock, CreateProjectError, Entitlements, FileLimits, NewProject, Page, PageCursor, ProjectPatch, ProjectRepository,
    PutFileError, StorageError, VersionedRead,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::InternalError;
use crate::read_through::ReadThrough;

#[derive(Debug, Clone)]
pub struct ProjectConfig {
    pub max_file_bytes: u64,
    /// The server's own bounds on a project's files; a plan may allow less storage.
    pub file_limits: FileLimits,
    pub project_ttl: Duration,
    pub list_ttl: Duration,
    pub files_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No such project, or not the caller's.
    #[error("project not found")]
    NotFound,
    #[error("no such file")]
    FileNotFound,
    /// The plan allows `limit` projects and the user has `count`.
    #[error("project limit of {limit} reached")]
    LimitReached { limit: u32, count: u64 },
    #[error("file larger than {0} bytes")]
    FileTooLarge(u64),
    #[error("the project has its maximum of {0} files")]
    TooManyFiles(u32),
    #[error("the project's files would exceed {0} bytes")]
    ProjectFull(u64),
    /// A file and a directory cannot share a path.
    #[error("{0} already exists as a file or a directory")]
    PathConflict(String),
    /// A change needs a file that is not there.
    #[error("no file {0}")]
    FileMissing(String),
    /// A change may not replace this file.
    #[error("{0} already exists")]
    FileExists(String),
    #[error("no such revision")]
    RevisionNotFound,
    /// A generation job lost its lease: the change was not written.
    #[error("the job's lease was lost")]
    LeaseLost,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<PutFileError> for ProjectError {
    fn from(err: PutFileError) -> Self {
        match err {
            PutFileError::TooManyFiles { limit } => Self::TooManyFiles(limit),
            PutFileError::ProjectFull { limit } => Self::ProjectFull(limit),
            PutFileError::ProjectGone => Self::NotFound,
            PutFileError::PathConflict(existing) => Self::PathConflict(existing),
            PutFileError::FileMissing(path) => Self::FileMissing(path),
            PutFileError::FileExists(path) => Self::FileExists(path),
            PutFileError::LeaseLost => Self::LeaseLost,
            PutFileError::Storage(err) => err.into(),
        }
    }
}

impl From<StorageError> for ProjectError {
    fn from(err: StorageError) -> Self {
        Self::Internal(err.into())
    }
}

/// The project as cached: plain data, mapped back to the domain on read.
#[derive(Clone, Serialize, Deserialize)]
struct ProjectRecord {
    id: uuid::Uuid,
    owner_id: uuid::Uuid,
    name: String,
    description: Option<String>,
    framework: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProjectRecord {
    fn from_project(p: &Project) -> Self {
        Self {
            id: p.id.as_uuid(),
            owner_id: p.owner_id.as_uuid(),
            name: p.name.as_str().to_owned(),
            description: p.description.as_ref().map(|d| d.as_str().to_owned()),
            framework: p.framework.map(|f| f.as_str().to_owned()),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    fn into_project(self) -> Option<Project> {
        Some(Project {
            id: ProjectId::from_uuid(self.id),
            owner_id: UserId::from_uuid(self.owner_id),
            name: ProjectName::parse(&self.name).ok()?,
            description: match self.description {
                Some(d) => ProjectDescription::parse(&d).ok()?,
                None => None,
            },
            framework: match self.framework {
                Some(f) => Some(Framework::parse(&f)?),
                None => None,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct FileRecord {
    path: String,
    size: u64,
    sha256: String,
    updated_at: DateTime<Utc>,
}

#[derive(Clone, Serialize, Deserialize)]
struct ProjectPageRecord {
    items: Vec<ProjectRecord>,
    next: Option<(DateTime<Utc>, uuid::Uuid)>,
}

fn corrupt() -> ProjectError {
    ProjectError::Internal(StorageError::new("cached record no longer valid").into())
}

/// How many of a user's newest projects are cached as one entry; the first page
/// of any size up to this is served from it.
const HEAD_SIZE: u32 = 100;

/// What a read request of the projects API will read from the cache, so the
/// request gate can confirm it ahead of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedRead {
    /// The first page of the caller's projects.
    List,
    /// One project (every route under it checks ownership through it).
    Project(ProjectId),
    /// A project and its file list.
    Files(ProjectId),
}

fn project_scope(id: ProjectId) -> String {
    format!("project:{id}")
}

fn list_scope(owner: UserId) -> String {
    format!("projects:{owner}")
}

fn files_scope(id: ProjectId) -> String {
    format!("files:{id}")
}

#[derive(Clone)]
pub struct ProjectService {
    repo: Arc<dyn ProjectRepository>,
    reads: ReadThrough,
    clock: Arc<dyn Clock>,
    /// What each owner's plan allows (projects, storage).
    entitlements: Arc<dyn Entitlements>,
    config: Arc<ProjectConfig>,
}

impl ProjectService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ProjectRepository>,
        reads: ReadThrough,
        clock: Arc<dyn Clock>,
        entitlements: Arc<dyn Entitlements>,
        config: ProjectConfig,
    ) -> Self {
        Self { repo, reads, clock, entitlements, config: Arc::new(config) }
    }

    #[must_use]
    pub fn config(&self) -> &ProjectConfig {
        &self.config
    }

    /// # Errors
    /// [`ProjectError::LimitReached`].
    pub async fn create(
        &self,
        owner: UserId,
        name: ProjectName,
        description: Option<ProjectDescription>,
        framework: Option<Framework>,
    ) -> Result<Project, ProjectError> {
        let project =
            NewProject { id: ProjectId::new(), owner_id: owner, name, description, framework, now: self.clock.now() };
        let limits = self.entitlements.entitlement(owner).await?.limits;
        let created = self.repo.create(project, limits.projects).await.map_err(|err| match err {
            CreateProjectError::LimitReached { limit, count } => ProjectError::LimitReached { limit, count },
            CreateProjectError::Storage(err) => err.into(),
        })?;
        self.reads.invalidate(&[&list_scope(owner)]).await;
        Ok(created)
    }

    /// The owner's projects, newest first. The first page comes from the cache.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(
        &self,
        owner: UserId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Project>, ProjectError> {
        if after.is_some() || limit > HEAD_SIZE {
            return Ok(self.repo.list(owner, after, limit).await?);
        }
        let scope = list_scope(owner);
        let repo = self.repo.clone();
        let head: ProjectPageRecord = self
            .reads
            .get(&scope, &format!("{scope}:head"), self.config.list_ttl, move || async move {
                let page = repo.list(owner, None, HEAD_SIZE).await?;
                Ok(ProjectPageRecord {
                    items: page.items.iter().map(ProjectRecord::from_project).collect(),
                    next: page.next.map(|c| (c.created_at, c.id)),
                })
            })
            .await?;
        let total = head.items.len();
        let take = (limit as usize).min(total);
        let items: Vec<Project> = head
            .items
            .into_iter()
            .take(take)
            .map(ProjectRecord::into_project)
            .collect::<Option<_>>()
            .ok_or_else(corrupt)?;
        let next = if total > take {
            items.last().map(|p| PageCursor { created_at: p.created_at, id: p.id.as_uuid() })
        } else {
            head.next.map(|(created_at, id)| PageCursor { created_at, id })
        };
        Ok(Page { items, next })
    }

    /// The versioned cache reads `what` makes for `owner`.
    #[must_use]
    pub fn cached_reads(&self, owner: UserId, what: CachedRead) -> Vec<VersionedRead> {
        match what {
            CachedRead::List => {
                let scope = list_scope(owner);
                vec![self.reads.read_of(&scope, &format!("{scope}:head"))]
            }
            CachedRead::Project(id) => vec![self.reads.read_of(&project_scope(id), &project_scope(id))],
            CachedRead::Files(id) => vec![
                self.reads.read_of(&project_scope(id), &project_scope(id)),
                self.reads.read_of(&files_scope(id), &files_scope(id)),
            ],
        }
    }

    /// The caller's project, from the cache when possible.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`] for a missing project or another user's.
    pub async fn get(&self, owner: UserId, id: ProjectId) -> Result<Project, ProjectError> {
        let scope = project_scope(id);
        let repo = self.repo.clone();
        let record: Option<ProjectRecord> = self
            .reads
            .get(&scope, &scope, self.config.project_ttl, move || async move {
                Ok(repo.find(id).await?.as_ref().map(ProjectRecord::from_project))
            })
            .await?;
        let project = record.map(|r| r.into_project().ok_or_else(corrupt)).transpose()?;
        match project {
            Some(p) if p.owner_id == owner => Ok(p),
            _ => Err(ProjectError::NotFound),
        }
    }

    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn update(&self, owner: UserId, id: ProjectId, patch: &ProjectPatch) -> Result<Project, ProjectError> {
        let updated = self.repo.update(owner, id, patch, self.clock.now()).await?.ok_or(ProjectError::NotFound)?;
        self.reads.invalidate(&[&project_scope(id), &list_scope(owner)]).await;
        Ok(updated)
    }

    /// Deletes the project with its files and conversation.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn delete(&self, owner: UserId, id: ProjectId) -> Result<(), ProjectError> {
        if !self.repo.delete(owner, id).await? {
            return Err(ProjectError::NotFound);
        }
        self.reads.invalidate(&[&project_scope(id), &list_scope(owner), &files_scope(id)]).await;
        Ok(())
    }

    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn files(&self, owner: UserId, id: ProjectId) -> Result<Vec<FileMeta>, ProjectError> {
        self.get(owner, id).await?;
        let scope = files_scope(id);
        let repo = self.repo.clone();
        let records: Vec<FileRecord> = self
            .reads
            .get(&scope, &scope, self.config.files_ttl, move || async move {
                Ok(repo
                    .list_files(id)
                    .await?
                    .into_iter()
                    .map(|f| FileRecord {
                        path: f.path.as_str().to_owned(),
                        size: f.size,
                        sha256: f.sha256,
                        updated_at: f.updated_at,
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        records
            .into_iter()
            .map(|r| {
                Some(FileMeta {
                    path: FilePath::parse(&r.path).ok()?,
                    size: r.size,
                    sha256: r.sha256,
                    updated_at: r.updated_at,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(corrupt)
    }

    /// # Errors
    /// [`ProjectError::NotFound`] or [`ProjectError::FileNotFound`].
    pub async fn read_file(
        &self,
        owner: UserId,
        id: ProjectId,
        path: &FilePath,
    ) -> Result<(FileMeta, Vec<u8>), ProjectError> {
        self.get(owner, id).await?;
        self.repo.read_file(id, path).await?.ok_or(ProjectError::FileNotFound)
    }

    /// Creates or replaces a file; `true` when created.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`], or a size or count limit.
    pub async fn put_file(
        &self,
        owner: UserId,
        id: ProjectId,
        path: &FilePath,
        content: &[u8],
    ) -> Result<(FileMeta, bool), ProjectError> {
        if content.len() as u64 > self.config.max_file_bytes {
            return Err(ProjectError::FileTooLarge(self.config.max_file_bytes));
        }
        self.get(owner, id).await?;
        let sha256 = hex::encode(Sha256::digest(content));
        let limits = self.file_limits(owner).await?;
        let result = self.repo.put_file(id, path, content, &sha256, self.clock.now(), limits).await;
        let stored = result.map_err(ProjectError::from)?;
        self.reads.invalidate(&[&files_scope(id)]).await;
        Ok(stored)
    }

    /// # Errors
    /// [`ProjectError::NotFound`] or [`ProjectError::FileNotFound`].
    pub async fn delete_file(&self, owner: UserId, id: ProjectId, path: &FilePath) -> Result<(), ProjectError> {
        self.get(owner, id).await?;
        if !self.repo.delete_file(id, path).await? {
            return Err(ProjectError::FileNotFound);
        }
        self.reads.invalidate(&[&files_scope(id)]).await;
        Ok(())
    }

    /// The conversation, oldest first.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn messages(
        &self,
        owner: UserId,
        id: ProjectId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Message>, ProjectError> {
        self.get(owner, id).await?;
        Ok(self.repo.list_messages(id, after, limit).await?)
    }

    /// Adds a user message to the conversation (assistant messages come from generation).
    ///
    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn post_message(
        &self,
        owner: UserId,
        id: ProjectId,
        content: MessageContent,
    ) -> Result<Message, ProjectError> {
        self.get(owner, id).await?;
        let message = Message {
            id: MessageId::new(),
            project_id: id,
            role: MessageRole::User,
            content,
            created_at: self.clock.now(),
        };
        // The stored message (its `created_at` is assigned under the project's lock);
        // none when the project was deleted meanwhile.
        self.repo.add_message(&message).await?.ok_or(ProjectError::NotFound)
    }

    /// Appends a message to a project's conversation on the system's behalf
    /// (generation: the prompt that started a job, the assistant's reply); `None`
    /// when the project is gone. The caller has checked ownership.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn record_message(
        &self,
        id: ProjectId,
        role: MessageRole,
        content: MessageContent,
    ) -> Result<Option<Message>, ProjectError> {
        let message = Message { id: MessageId::new(), project_id: id, role, content, created_at: self.clock.now() };
        Ok(self.repo.add_message(&message).await?)
    }
}
