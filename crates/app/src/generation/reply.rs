//! A job's reply as it streams: parsed by the file protocol, each operation
//! applied to the project when its closing tag arrives, through the same rules
//! as the files API, and reported (applied or refused). Partial operations are
//! never written; every applied one joins the job's revision.

use devora_domain::generation::protocol::{
    MalformedReason, OpenOperation, Operation, Parsed, ProtocolParser, apply_edit,
};
use devora_domain::generation::{OperationKind, OperationReport, RefusalReason};
use devora_domain::{FileMeta, JobId, ProjectId, RevisionKind, UserId};
use devora_ports::{FileChange, JobLease, RevisionTarget};

use crate::projects::{ProjectError, ProjectService};

/// Applying an operation failed for a reason that ends the job.
#[derive(Debug)]
pub(super) enum Fatal {
    /// The project was deleted.
    ProjectGone,
    /// The job's lease was taken over: nothing more is written.
    Lost,
    Internal(String),
}

/// Where a job's operations land.
pub(super) struct Target {
    pub projects: ProjectService,
    pub owner: UserId,
    pub project: ProjectId,
    pub job: JobId,
    /// The job's fencing token: file changes are written only while it is current.
    pub fence: i64,
}

pub(super) struct Reply {
    parser: ProtocolParser,
    target: Option<Target>,
    pub prose: String,
    pub summary: Option<String>,
    pub reports: Vec<OperationReport>,
    pub revision: Option<u64>,
}

fn report(kind: OperationKind, path: Option<String>, from: Option<String>) -> OperationReport {
    OperationReport { kind, path, from, refused: None, size: None, sha256: None }
}

fn refuse(mut r: OperationReport, reason: RefusalReason, message: impl Into<String>) -> OperationReport {
    r.refused = Some((reason, message.into()));
    r
}

fn kind_of_tag(tag: &str) -> OperationKind {
    match tag.trim_start_matches('/') {
        "devora-write" => OperationKind::Write,
        "devora-edit" => OperationKind::Edit,
        "devora-delete" => OperationKind::Delete,
        "devora-rename" => OperationKind::Rename,
        _ => OperationKind::Unknown,
    }
}

impl Reply {
    /// A reply whose operations apply to `target` (none for a reply that may not change files).
    pub fn new(target: Option<Target>) -> Self {
        Self {
            parser: ProtocolParser::new(),
            target,
            prose: String::new(),
            summary: None,
            reports: Vec::new(),
            revision: None,
        }
    }

    /// The operation the reply stopped inside, if any (for a continuation).
    pub fn open_operation(&self) -> Option<OpenOperation> {
        self.parser.open_operation()
    }

    /// Feeds more of the reply; the reports of the operations it completed.
    pub async fn take(&mut self, text: &str) -> Result<Vec<OperationReport>, Fatal> {
        let parsed = self.parser.push(text);
        self.handle(parsed).await
    }

    /// The reply is over: what was held is flushed, and an operation still open
    /// is refused as `truncated` (never written half).
    pub async fn finish(&mut self) -> Result<Vec<OperationReport>, Fatal> {
        let parser = std::mem::take(&mut self.parser);
        let (parsed, open) = parser.finish();
        let mut reports = self.handle(parsed).await?;
        if let Some(open) = open {
            let kind = match open {
                OpenOperation::Write { .. } => OperationKind::Write,
                OpenOperation::Edit { .. } => OperationKind::Edit,
                OpenOperation::Summary => return Ok(reports),
            };
            let path = open.path().map(|p| p.as_str().to_owned());
            let r = refuse(
                report(kind, path, None),
                RefusalReason::Truncated,
                "the reply ended before the operation's closing tag",
            );
            self.reports.push(r.clone());
            reports.push(r);
        }
        Ok(reports)
    }

    async fn handle(&mut self, parsed: Vec<Parsed>) -> Result<Vec<OperationReport>, Fatal> {
        let mut reports = Vec::new();
        for item in parsed {
            let r = match item {
                Parsed::Prose(text) => {
                    self.prose.push_str(&text);
                    continue;
                }
                Parsed::Summary(text) => {
                    self.summary = Some(text);
                    continue;
                }
                Parsed::Malformed { tag, reason, detail } => {
                    let why = if reason == MalformedReason::InvalidPath {
                        RefusalReason::InvalidPath
                    } else {
                        RefusalReason::Malformed
                    };
                    refuse(
                        report(kind_of_tag(&tag), None, None),
                        why,
                        format!("<{tag}>: {} ({detail})", reason.as_str()),
                    )
                }
                Parsed::Operation(op) => self.apply(op).await?,
            };
            self.reports.push(r.clone());
            reports.push(r);
        }
        Ok(reports)
    }

    async fn apply(&mut self, op: Operation) -> Result<OperationReport, Fatal> {
        let (kind, path, from) = match &op {
            Operation::Write { path, .. } => (OperationKind::Write, path.clone(), None),
            Operation::Edit { path, .. } => (OperationKind::Edit, path.clone(), None),
            Operation::Delete { path } => (OperationKind::Delete, path.clone(), None),
            Operation::Rename { from, to } => (OperationKind::Rename, to.clone(), Some(from.clone())),
        };
        let base = report(kind, Some(path.as_str().to_owned()), from.as_ref().map(|f| f.as_str().to_owned()));
        let Some(target) = &self.target else {
            return Ok(refuse(base, RefusalReason::Malformed, "this job does not change files"));
        };
        let projects = &target.projects;
        let changes = match op {
            Operation::Write { path, mut content } => {
                // A text file ends with a newline (the protocol drops the one before the closing tag).
                if !content.is_empty() && !content.ends_with('\n') {
                    content.push('\n');
                }
                match projects.put(path, content.into_bytes(), false) {
                    Ok(change) => vec![change],
                    Err(err) => return refusal(base, err),
                }
            }
            Operation::Edit { path, blocks } => {
                let current = match projects.current_file(target.project, &path).await {
                    Ok(Some((_, bytes))) => bytes,
                    Ok(None) => return Ok(refuse(base, RefusalReason::NotFound, format!("no file {path} to edit"))),
                    Err(err) => return refusal(base, err),
                };
                let Ok(text) = String::from_utf8(current) else {
                    return Ok(refuse(base, RefusalReason::NotText, format!("{path} is not UTF-8 text")));
                };
                let edited = match apply_edit(&text, &blocks) {
                    Ok(edited) => edited,
                    Err((block, err)) => {
                        let reason = match err {
                            devora_domain::generation::protocol::EditError::NotFound => RefusalReason::SearchNotFound,
                            devora_domain::generation::protocol::EditError::Ambiguous { .. } => {
                                RefusalReason::SearchAmbiguous
                            }
                        };
                        return Ok(refuse(base, reason, format!("block {} of the edit of {path}: {err}", block + 1)));
                    }
                };
                match projects.put(path, edited.into_bytes(), false) {
                    Ok(change) => vec![change],
                    Err(err) => return refusal(base, err),
                }
            }
            Operation::Delete { path } => vec![FileChange::Delete { path }],
            Operation::Rename { from, to } => {
                if from == to {
                    return Ok(refuse(base, RefusalReason::AlreadyExists, format!("{to} is the file itself")));
                }
                let content = match projects.current_file(target.project, &from).await {
                    Ok(Some((_, bytes))) => bytes,
                    Ok(None) => return Ok(refuse(base, RefusalReason::NotFound, format!("no file {from} to rename"))),
                    Err(err) => return refusal(base, err),
                };
                match projects.put(to, content, true) {
                    Ok(put) => vec![FileChange::Delete { path: from }, put],
                    Err(err) => return refusal(base, err),
                }
            }
        };
        let revision = match self.revision {
            Some(n) => RevisionTarget::Append(n),
            None => RevisionTarget::New { kind: RevisionKind::Job, job: Some(target.job) },
        };
        let lease = JobLease { job: target.job, fence: target.fence };
        match projects.apply_changes(target.owner, target.project, changes, revision, Some(lease)).await {
            Ok(applied) => {
                // The job's newest revision (a new one when another change came in between).
                if applied.revision.is_some() {
                    self.revision = applied.revision;
                }
                let written: Option<&FileMeta> = applied.written.first();
                let mut done = base;
                done.size = written.map(|m| m.size);
                done.sha256 = written.map(|m| m.sha256.clone());
                Ok(done)
            }
            Err(err) => refusal(base, err),
        }
    }
}

/// A refused operation, or the job's end when the failure is not the operation's.
fn refusal(base: OperationReport, err: ProjectError) -> Result<OperationReport, Fatal> {
    let (reason, message) = match err {
        ProjectError::FileTooLarge(limit) => (RefusalReason::TooLarge, format!("a file may be at most {limit} bytes")),
        ProjectError::TooManyFiles(limit) => {
            (RefusalReason::TooManyFiles, format!("a project may have at most {limit} files"))
        }
        ProjectError::ProjectFull(limit) => {
            (RefusalReason::StorageFull, format!("the project's files may total at most {limit} bytes"))
        }
        ProjectError::PathConflict(existing) => {
            (RefusalReason::PathConflict, format!("{existing} is already a file or a directory"))
        }
        ProjectError::FileMissing(path) => (RefusalReason::NotFound, format!("no file {path}")),
        ProjectError::FileExists(path) => (RefusalReason::AlreadyExists, format!("{path} already exists")),
        ProjectError::NotFound => return Err(Fatal::ProjectGone),
        ProjectError::LeaseLost => return Err(Fatal::Lost),
        other => return Err(Fatal::Internal(other.to_string())),
    };
    Ok(refuse(base, reason, message))
}
