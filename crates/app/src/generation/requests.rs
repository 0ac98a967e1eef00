//! What a user starts and reads: models, jobs, cancel, stream tickets, usage.

use chrono::{DateTime, Utc};
use devora_domain::generation::{Admission, PeriodUsage, admit, billing_period};
use devora_domain::{Job, JobId, JobKind, MessageContent, MessageRole, PlanId, Project, ProjectId, Prompt, UserId};
use devora_ports::generation::{CancelOutcome, CreateJobError, JobFilter, JobSignal, ModelInfo, NewJob};
use devora_ports::{Page, PageCursor};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{FullstackSpec, GenerationError, GenerationService};

/// A single-use ticket for a job's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

/// This period's generation against the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageView {
    pub plan: PlanId,
    pub period_start: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
    pub usage: PeriodUsage,
    pub generations_limit: u64,
    pub tokens_limit: u64,
    pub concurrent_limit: u64,
}

/// A new job's model and the month it is measured against.
struct Terms {
    model: String,
    admission: Admission,
    period_start: DateTime<Utc>,
}

/// Whether `model` is on a plan's list (`*` offers every model).
fn allowed(plan_models: &[String], model: &str) -> bool {
    plan_models.iter().any(|m| m == "*" || m == model)
}

fn ticket_hash(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

impl GenerationService {
    /// The provider's models that the caller's plan allows.
    ///
    /// # Errors
    /// Not configured, or the provider failing.
    pub async fn models(&self, user: UserId) -> Result<Vec<ModelInfo>, GenerationError> {
        let model = self.model()?;
        let limits = self.ports.entitlements.entitlement(user).await?.limits;
        let offered = model.models().await.map_err(GenerationError::Provider)?;
        Ok(offered.into_iter().filter(|m| allowed(&limits.models, &m.id)).collect())
    }

    /// Queues an agentic job on the caller's project; the prompt joins the
    /// project's conversation.
    ///
    /// # Errors
    /// Not configured, no such project, a model the plan does not offer, a plan limit.
    pub async fn start_agentic(
        &self,
        user: UserId,
        project: ProjectId,
        prompt: Prompt,
        model: Option<String>,
    ) -> Result<Job, GenerationError> {
        self.model()?;
        self.ports.projects.get(user, project).await?;
        // The prompt joins the conversation before the job can run (so it comes
        // before the reply), and only when the budget admits the job; a limit
        // reached in the moment between is the one case that leaves it unanswered.
        let terms = self.admitted_terms(user, model).await?;
        if let Ok(content) = MessageContent::parse(prompt.as_str()) {
            self.ports.projects.record_message(project, MessageRole::User, content).await?;
        }
        self.queue(user, Some(project), JobKind::Agentic, prompt.as_str().to_owned(), terms).await
    }

    /// Creates the project (within the plan's project limit) and queues the job
    /// that generates its scaffold. Nothing is created when a generation limit
    /// refuses the job.
    ///
    /// # Errors
    /// Not configured, a plan limit (projects or generation), a model the plan does not offer.
    pub async fn start_fullstack(
        &self,
        user: UserId,
        spec: FullstackSpec,
        model: Option<String>,
    ) -> Result<(Job, Project), GenerationError> {
        self.model()?;
        // Refuse before creating anything when the budget already says no.
        let terms = self.admitted_terms(user, model).await?;
        let project =
            self.ports.projects.create(user, spec.name.clone(), spec.description.clone(), spec.framework()).await?;
        match self.queue(user, Some(project.id), JobKind::Fullstack, spec.prompt(), terms).await {
            Ok(job) => Ok((job, project)),
            Err(err) => {
                // A limit reached in between: the project must not outlive its refused job.
                if let Err(cleanup) = self.ports.projects.delete(user, project.id).await {
                    tracing::error!(error = %cleanup, project = %project.id, "could not remove the project of a refused job");
                }
                Err(err)
            }
        }
    }

    /// What the caller's plan says about a new job: the model (checked against
    /// the plan's list) and the month it is measured against. One entitlement read.
    async fn terms(&self, user: UserId, model: Option<String>) -> Result<Terms, GenerationError> {
        let limits = self.ports.entitlements.entitlement(user).await?.limits;
        let model = model.unwrap_or_else(|| self.config.default_model.clone());
        if !allowed(&limits.models, &model) {
            return Err(GenerationError::ModelNotAllowed(model));
        }
        let (period_start, resets_at) = billing_period(self.ports.clock.now());
        Ok(Terms { model, admission: Admission::from_limits(&limits, resets_at), period_start })
    }

    /// [`Self::terms`], refused at once when the month already says no (the
    /// store decides again, atomically, when it queues the job).
    async fn admitted_terms(&self, user: UserId, model: Option<String>) -> Result<Terms, GenerationError> {
        let terms = self.terms(user, model).await?;
        let usage = self.ports.jobs.period_usage(user, terms.period_start).await?;
        admit(&terms.admission, &usage).map_err(GenerationError::Limit)?;
        Ok(terms)
    }

    async fn queue(
        &self,
        user: UserId,
        project: Option<ProjectId>,
        kind: JobKind,
        prompt: String,
        terms: Terms,
    ) -> Result<Job, GenerationError> {
        let new = NewJob {
            id: JobId::new(),
            owner_id: user,
            project_id: project,
            kind,
            prompt,
            model: terms.model,
            now: self.ports.clock.now(),
            period_start: terms.period_start,
        };
        let job = self.ports.jobs.create_job(new, &terms.admission).await.map_err(|err| match err {
            CreateJobError::Limit(refusal) => GenerationError::Limit(refusal),
            CreateJobError::Storage(err) => err.into(),
        })?;
        metrics::counter!("devora_generation_jobs_created_total", "kind" => kind.as_str()).increment(1);
        self.ports.signals.publish(JobSignal::Queued).await;
        Ok(job)
    }

    /// The caller's jobs, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list(
        &self,
        user: UserId,
        filter: JobFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Job>, GenerationError> {
        Ok(self.ports.jobs.list_jobs(Some(user), filter, after, limit).await?)
    }

    /// Any user's jobs (operators).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_all(
        &self,
        filter: JobFilter,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<Job>, GenerationError> {
        Ok(self.ports.jobs.list_jobs(None, filter, after, limit).await?)
    }

    /// One of the caller's jobs; another user's is not found.
    ///
    /// # Errors
    /// [`GenerationError::JobNotFound`].
    pub async fn get(&self, user: UserId, id: JobId) -> Result<Job, GenerationError> {
        match self.ports.jobs.find_job(id).await? {
            Some(job) if job.owner_id == user => Ok(job),
            _ => Err(GenerationError::JobNotFound),
        }
    }

    /// Stops a job: a queued one at once, a running one on whichever node runs it
    /// (within about a second). `user` `None` is an operator, who may stop any job.
    /// What the job already did stays.
    ///
    /// # Errors
    /// [`GenerationError::JobNotFound`].
    pub async fn cancel(&self, user: Option<UserId>, id: JobId) -> Result<Job, GenerationError> {
        self.cancel_recorded(user, id, None).await
    }

    /// [`GenerationService::cancel`] with an audit entry appended in the same
    /// transaction as the change (an administrator stopping someone's job).
    ///
    /// # Errors
    /// [`GenerationError::JobNotFound`].
    pub async fn cancel_recorded(
        &self,
        user: Option<UserId>,
        id: JobId,
        audit: Option<devora_ports::admin::NewAuditEntry>,
    ) -> Result<Job, GenerationError> {
        let outcome = self.ports.jobs.request_cancel(user, id, self.ports.clock.now(), audit).await?;
        match outcome {
            None => return Err(GenerationError::JobNotFound),
            Some(CancelOutcome::Cancelled { seq }) => {
                self.ports.signals.publish(JobSignal::Events { job: id, seq }).await;
            }
            Some(CancelOutcome::Requested) => self.ports.signals.publish(JobSignal::Cancel { job: id }).await,
            Some(CancelOutcome::AlreadyFinished) => {}
        }
        self.ports.jobs.find_job(id).await?.ok_or(GenerationError::JobNotFound)
    }

    /// A single-use ticket for the job's event stream (SSE or WebSocket), for
    /// browsers that cannot send headers there.
    ///
    /// # Errors
    /// [`GenerationError::JobNotFound`].
    pub async fn issue_ticket(&self, user: UserId, id: JobId) -> Result<IssuedTicket, GenerationError> {
        self.get(user, id).await?;
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let ticket = format!("gt_{}", hex::encode(bytes));
        let ttl = chrono::Duration::from_std(self.config.ticket_ttl).unwrap_or(chrono::Duration::seconds(60));
        let expires_at = self.ports.clock.now() + ttl;
        self.ports.jobs.create_ticket(&ticket_hash(&ticket), id, user, expires_at).await?;
        Ok(IssuedTicket { ticket, expires_at })
    }

    /// Spends a ticket for job `id`; the user it was issued to.
    ///
    /// # Errors
    /// [`GenerationError::InvalidTicket`] when unknown, spent, expired or for another job.
    pub async fn redeem_ticket(&self, ticket: &str, id: JobId) -> Result<UserId, GenerationError> {
        if ticket.len() > 128 {
            return Err(GenerationError::InvalidTicket);
        }
        match self.ports.jobs.redeem_ticket(&ticket_hash(ticket), self.ports.clock.now()).await? {
            Some((job, user)) if job == id => Ok(user),
            _ => Err(GenerationError::InvalidTicket),
        }
    }

    /// This period's generations and tokens against the plan, and when it resets.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn usage(&self, user: UserId) -> Result<UsageView, GenerationError> {
        let entitlement = self.ports.entitlements.entitlement(user).await?;
        let (start, reset) = billing_period(self.ports.clock.now());
        let usage = self.ports.jobs.period_usage(user, start).await?;
        Ok(UsageView {
            plan: entitlement.plan,
            period_start: start,
            resets_at: reset,
            usage,
            generations_limit: u64::from(entitlement.limits.generations_per_month),
            tokens_limit: entitlement.limits.tokens_per_month,
            concurrent_limit: u64::from(entitlement.limits.concurrent_jobs),
        })
    }
}
