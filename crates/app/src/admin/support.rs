//! Support: reading a user's account, projects and jobs (each read audited
//! before anything is returned), stopping a job, the audit log, and billing
//! reconcile with its summary recorded.

use devora_domain::admin::{AuditAction, AuditEntry};
use devora_domain::{Job, JobId, Project, User, UserId};
use devora_ports::admin::{AccountFootprint, AuditFilter, NewAuditEntry, UserSearch};
use devora_ports::generation::JobFilter;
use devora_ports::{Page, PageCursor, Session};

use super::{Actor, AdminError, AdminService};
use crate::InternalError;
use crate::billing::{ReconcileReport, SubscriptionView};
use crate::generation::{GenerationError, UsageView};

/// What support sees of an account.
#[derive(Debug, Clone)]
pub struct UserDetail {
    pub user: User,
    pub billing: SubscriptionView,
    pub usage: UsageView,
    pub footprint: AccountFootprint,
    pub sessions: Vec<Session>,
}

fn generation_error(err: GenerationError) -> AdminError {
    match err {
        GenerationError::JobNotFound => AdminError::JobNotFound,
        other => AdminError::Internal(InternalError::new(other.to_string())),
    }
}

impl AdminService {
    async fn record(
        &self,
        actor: &Actor,
        action: AuditAction,
        target_type: &'static str,
        target: String,
        after: Option<String>,
    ) -> Result<(), AdminError> {
        let entry = NewAuditEntry {
            context: self.context(actor),
            action,
            target_type,
            target_id: Some(target),
            before: None,
            after,
        };
        Ok(self.ports.store.append_audit(entry).await?)
    }

    async fn existing_user(&self, id: UserId) -> Result<User, AdminError> {
        self.ports.auth.ports.users.find_by_id(id).await?.ok_or(AdminError::UserNotFound)
    }

    /// Accounts by search and filters, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn users(
        &self,
        search: &UserSearch,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<User>, AdminError> {
        Ok(self.ports.store.search_users(search, after, limit).await?)
    }

    /// An account with its plan, this period's usage, projects and storage,
    /// live sessions and sign-in methods. Audited.
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`].
    pub async fn user_detail(&self, actor: &Actor, id: UserId) -> Result<UserDetail, AdminError> {
        let user = self.existing_user(id).await?;
        self.record(actor, AuditAction::UserViewed, "user", id.to_string(), None).await?;
        let now = self.ports.clock.now();
        let idle = self.ports.auth.config().session_idle_timeout;
        let sessions = self.ports.auth.ports.sessions.list_alive(id, now).await?;
        Ok(UserDetail {
            billing: self.ports.billing.stored_subscription(id).await?,
            usage: self.ports.generation.usage(id).await.map_err(generation_error)?,
            footprint: self.ports.store.footprint(id).await?,
            sessions: sessions.into_iter().filter(|s| s.is_alive(now, idle)).collect(),
            user,
        })
    }

    /// A user's projects (metadata only), newest first. Audited.
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`].
    pub async fn user_projects(
        &self,
        actor: &Actor,
        id: UserId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Project>, AdminError> {
        self.existing_user(id).await?;
        self.record(actor, AuditAction::UserProjectsViewed, "user", id.to_string(), None).await?;
        self.ports
            .projects
            .list(id, after, limit)
            .await
            .map_err(|e| AdminError::Internal(InternalError::new(e.to_string())))
    }

    /// A user's generation jobs, newest first. Audited.
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`].
    pub async fn user_jobs(
        &self,
        actor: &Actor,
        id: UserId,
        filter: JobFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Job>, AdminError> {
        self.existing_user(id).await?;
        self.record(actor, AuditAction::UserJobsViewed, "user", id.to_string(), None).await?;
        self.ports.generation.list(id, filter, after, limit).await.map_err(generation_error)
    }

    /// Stops any job, recorded with the change in one transaction (nothing is
    /// recorded for a job that had ended already).
    ///
    /// # Errors
    /// [`AdminError::JobNotFound`].
    pub async fn cancel_job(&self, actor: &Actor, id: JobId) -> Result<Job, AdminError> {
        let entry = NewAuditEntry {
            context: self.context(actor),
            action: AuditAction::JobCancelled,
            target_type: "job",
            target_id: Some(id.to_string()),
            before: None,
            after: None,
        };
        self.ports.generation.cancel_recorded(None, id, Some(entry)).await.map_err(generation_error)
    }

    /// The audit log, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AdminError> {
        Ok(self.ports.store.audit_log(filter, after, limit).await?)
    }

    /// Reconciles billing with Stripe and records the run's summary.
    ///
    /// # Errors
    /// Billing's errors (not configured, provider unavailable).
    pub async fn reconcile(&self, actor: &Actor) -> Result<ReconcileReport, AdminError> {
        let report = self.ports.billing.reconcile().await?;
        let summary = format!(
            r#"{{"checked":{},"repaired":{},"failed":{}}}"#,
            report.checked,
            report.repaired.len(),
            report.failed.len()
        );
        self.record(actor, AuditAction::BillingReconciled, "billing", "reconcile".to_owned(), Some(summary)).await?;
        Ok(report)
    }
}
