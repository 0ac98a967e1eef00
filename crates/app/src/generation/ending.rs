//! Writing how a run ended: the job's status, error, reply, summary, revision
//! and operations; the revision's summary; the assistant's message in the
//! conversation; or the job back in the queue when the node is stopping.

use devora_domain::generation::OperationReport;
use devora_domain::{JobErrorCode, JobKind, JobStatus, JobUsage, MessageContent, MessageRole};
use devora_ports::generation::{JobSignal, Lease, Outcome};

use super::GenerationService;
use super::reply::Reply;
use super::runner::{End, Halt};

/// The conversation's record of a job: its prose, its summary, what it changed.
fn assistant_message(reply: &Reply, status: JobStatus) -> String {
    let mut text = reply.prose.trim().to_owned();
    if let Some(summary) = &reply.summary {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(summary.trim());
    }
    if !reply.reports.is_empty() {
        let lines: Vec<String> = reply.reports.iter().map(describe).collect();
        text.push_str(&format!("\n\nChanges:\n{}", lines.join("\n")));
    }
    if status != JobStatus::Succeeded {
        text.push_str(&format!("\n\n(The job {}.)", status.as_str()));
    }
    text.trim().to_owned()
}

fn describe(r: &OperationReport) -> String {
    let path = r.path.as_deref().unwrap_or("?");
    let what = match (r.kind.as_str(), &r.from) {
        ("rename", Some(from)) => format!("rename {from} -> {path}"),
        (kind, _) => format!("{kind} {path}"),
    };
    match &r.refused {
        None => format!("- {what}"),
        Some((reason, message)) => format!("- {what}: refused ({}: {message})", reason.as_str()),
    }
}

impl GenerationService {
    pub(super) async fn write_end(&self, lease: &Lease, end: End, output: String, reply: Reply, usage: JobUsage) {
        let now = self.ports.clock.now();
        let job = &lease.job;
        let (status, error) = match end {
            End::Done => (JobStatus::Succeeded, None),
            End::Failed(code, message) => (JobStatus::Failed, Some((code, message))),
            End::Halted(Halt::Cancel) => (JobStatus::Cancelled, None),
            End::Halted(Halt::TimeLimit) => {
                (JobStatus::Failed, Some((JobErrorCode::TimeLimit, "the job reached its wall-clock cap".to_owned())))
            }
            End::Halted(Halt::Lost) => {
                tracing::warn!("job's lease was taken over; this worker wrote nothing more");
                return;
            }
            // A job that changed files is not run again over its own changes: it ends, kept.
            End::Halted(Halt::Drain) if reply.revision.is_some() => (
                JobStatus::Failed,
                Some((JobErrorCode::Interrupted, "the server stopped while the job was changing files".to_owned())),
            ),
            End::Halted(Halt::Drain) => {
                self.release(lease).await;
                return;
            }
        };
        let summary = reply.summary.clone();
        if let (Some(project), Some(revision)) = (job.project_id, reply.revision) {
            let described = summary.clone().unwrap_or_else(|| format!("Changes by generation job {}", job.id));
            if let Err(err) = self.ports.projects.describe_revision(project, revision, &described).await {
                tracing::warn!(error = %err, revision, "could not describe the job's revision");
            }
        }
        let outcome = Outcome {
            status,
            error: error.clone(),
            output,
            summary,
            revision: reply.revision,
            operations: reply.reports.clone(),
            usage,
        };
        match self.ports.jobs.finish(lease, outcome, now).await {
            Ok(event) => {
                self.ports.signals.publish(JobSignal::Events { job: job.id, seq: event.seq }).await;
                let code = error.as_ref().map_or("", |(c, _)| c.as_str());
                metrics::counter!("devora_generation_jobs_finished_total", "status" => status.as_str(), "code" => code)
                    .increment(1);
                match &error {
                    Some((code, message)) => tracing::warn!(code = code.as_str(), message, "job failed"),
                    None => tracing::info!(status = status.as_str(), "job ended"),
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not record the job's end; the rescuer will");
                return;
            }
        }
        if job.kind == JobKind::Agentic
            && let Some(project) = job.project_id
        {
            let text: String = assistant_message(&reply, status).chars().take(MessageContent::MAX_CHARS).collect();
            if let Ok(content) = MessageContent::parse(&text)
                && let Err(err) = self.ports.projects.record_message(project, MessageRole::Assistant, content).await
            {
                tracing::warn!(error = %err, "could not add the reply to the conversation");
            }
        }
    }

    /// The node is stopping: the job goes back to the queue for another node.
    async fn release(&self, lease: &Lease) {
        match self.ports.jobs.release(lease, self.ports.clock.now()).await {
            Ok(event) => {
                tracing::info!("node stopping: job released to the queue");
                self.ports.signals.publish(JobSignal::Events { job: lease.job.id, seq: event.seq }).await;
                self.ports.signals.publish(JobSignal::Queued).await;
            }
            Err(err) => tracing::warn!(error = %err, "could not release the job; its lease will lapse"),
        }
    }
}
