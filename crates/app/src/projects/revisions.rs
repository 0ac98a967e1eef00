//! Revisions of a project's files, and the changes generation makes, each
//! checked like the files API's (size, count, the plan's storage).

use devora_domain::{FileMeta, FilePath, ProjectId, Revision, UserId};
use devora_ports::{AppliedChanges, FileChange, FileLimits, JobLease, RevisionPage, RevisionTarget};
use sha2::{Digest, Sha256};

use super::{ProjectError, ProjectService, files_scope};

impl ProjectService {
    /// The bounds on the owner's project files: the server's, with the plan's storage.
    pub(super) async fn file_limits(&self, owner: UserId) -> Result<FileLimits, ProjectError> {
        let storage = self.entitlements.entitlement(owner).await?.limits.storage_bytes;
        Ok(FileLimits {
            max_project_bytes: self.config.file_limits.max_project_bytes.min(storage),
            ..self.config.file_limits
        })
    }

    /// A `Put` change for `content`, or `FileTooLarge`.
    ///
    /// # Errors
    /// [`ProjectError::FileTooLarge`].
    pub fn put(&self, path: FilePath, content: Vec<u8>, create_only: bool) -> Result<FileChange, ProjectError> {
        if content.len() as u64 > self.config.max_file_bytes {
            return Err(ProjectError::FileTooLarge(self.config.max_file_bytes));
        }
        let sha256 = hex::encode(Sha256::digest(&content));
        Ok(FileChange::Put { path, content, sha256, create_only })
    }

    /// Applies changes made on the owner's behalf (by a generation job) to their
    /// project, together, within the same limits as the files API, recorded in
    /// `target`. The caller checked ownership when the job started.
    ///
    /// # Errors
    /// A limit, a conflict, a missing or existing file, or the project gone ([`ProjectError::NotFound`]).
    pub async fn apply_changes(
        &self,
        owner: UserId,
        id: ProjectId,
        changes: Vec<FileChange>,
        target: RevisionTarget,
        lease: Option<JobLease>,
    ) -> Result<AppliedChanges, ProjectError> {
        let limits = self.file_limits(owner).await?;
        let applied = self.repo.apply_changes(id, changes, target, self.clock.now(), limits, lease).await?;
        self.reads.invalidate(&[&files_scope(id)]).await;
        Ok(applied)
    }

    /// A file's content for a change being computed (an edit, a rename), without
    /// the ownership check the caller already made.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn current_file(
        &self,
        id: ProjectId,
        path: &FilePath,
    ) -> Result<Option<(FileMeta, Vec<u8>)>, ProjectError> {
        Ok(self.repo.read_file(id, path).await?)
    }

    /// The project's files without the ownership check (the caller made it).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn current_files(&self, id: ProjectId) -> Result<Vec<FileMeta>, ProjectError> {
        Ok(self.repo.list_files(id).await?)
    }

    /// The newest revision holding a generation job's changes, if it made any.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn job_revision(&self, id: ProjectId, job: devora_domain::JobId) -> Result<Option<u64>, ProjectError> {
        Ok(self.repo.job_revision(id, job).await?)
    }

    /// Sets a revision's summary.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn describe_revision(&self, id: ProjectId, number: u64, summary: &str) -> Result<(), ProjectError> {
        Ok(self.repo.set_revision_summary(id, number, summary).await?)
    }

    /// The project's revisions, newest first.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`].
    pub async fn revisions(
        &self,
        owner: UserId,
        id: ProjectId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<RevisionPage, ProjectError> {
        self.get(owner, id).await?;
        Ok(self.repo.list_revisions(id, before, limit).await?)
    }

    /// # Errors
    /// [`ProjectError::NotFound`] or [`ProjectError::RevisionNotFound`].
    pub async fn revision(&self, owner: UserId, id: ProjectId, number: u64) -> Result<Revision, ProjectError> {
        self.get(owner, id).await?;
        self.repo.revision(id, number).await?.ok_or(ProjectError::RevisionNotFound)
    }

    /// Returns the files to their state after revision `number`, as a new
    /// revision (itself restorable); the revision restored when nothing differed.
    ///
    /// # Errors
    /// [`ProjectError::NotFound`], [`ProjectError::RevisionNotFound`], or a limit.
    pub async fn restore(&self, owner: UserId, id: ProjectId, number: u64) -> Result<Revision, ProjectError> {
        self.get(owner, id).await?;
        let limits = self.file_limits(owner).await?;
        let restored = self.repo.restore(id, number, self.clock.now(), limits).await?;
        self.reads.invalidate(&[&files_scope(id)]).await;
        restored.ok_or(ProjectError::RevisionNotFound)
    }
}
