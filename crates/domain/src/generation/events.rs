//! A job's ordered event log: what a browser watching it is told.

use chrono::{DateTime, Utc};

use super::{JobErrorCode, JobStatus, JobUsage, OperationReport};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEventPayload {
    /// The job changed status (a worker took it, it went back to the queue).
    Status { status: JobStatus, attempt: u32 },
    /// How far along it is, and what it does now.
    Progress { progress: u8, step: Option<String> },
    /// More of the model's reply (coalesced: about one event per 100 ms).
    Delta { text: String },
    /// Tokens used so far, over all provider calls.
    Usage(JobUsage),
    /// A file operation was applied (`refused` is `None`) or refused.
    File(OperationReport),
    /// The last event of every job.
    End { status: JobStatus, error: Option<(JobErrorCode, String)> },
}

impl JobEventPayload {
    /// The event's name on the wire (`event:` of Server-Sent Events, `type` in JSON).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Progress { .. } => "progress",
            Self::Delta { .. } => "delta",
            Self::Usage(_) => "usage",
            Self::File(report) if report.applied() => "file",
            Self::File(_) => "file_refused",
            Self::End { .. } => "end",
        }
    }

    #[must_use]
    pub fn is_end(&self) -> bool {
        matches!(self, Self::End { .. })
    }
}

/// One entry of the log; `seq` counts from 1 without gaps within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub payload: JobEventPayload,
}
