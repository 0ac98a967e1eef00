//! Rows <-> domain for jobs and their events. An event's data is stored as a
//! small JSON object of its own, independent of the API's wire format.

use devora_domain::generation::{OperationKind, OperationReport, RefusalReason};
use devora_domain::{Job, JobError, JobErrorCode, JobEvent, JobEventPayload, JobId, JobKind, JobStatus, JobUsage};
use devora_domain::{ProjectId, UserId};
use devora_ports::StorageError;
use serde_json::{Value, json};

use crate::entity::{generation_events, generation_jobs};
use crate::errors::corrupt;

pub(crate) fn job_from_row(row: generation_jobs::Model) -> Result<Job, StorageError> {
    let error = match (row.error_code, row.error_message) {
        (Some(code), message) => Some(JobError {
            code: JobErrorCode::parse(&code).ok_or_else(|| corrupt("generation_jobs.error_code"))?,
            message: message.unwrap_or_default(),
        }),
        (None, _) => None,
    };
    Ok(Job {
        id: JobId::from_uuid(row.id),
        owner_id: UserId::from_uuid(row.owner_id),
        project_id: row.project_id.map(ProjectId::from_uuid),
        kind: JobKind::parse(&row.kind).ok_or_else(|| corrupt("generation_jobs.kind"))?,
        status: JobStatus::parse(&row.status).ok_or_else(|| corrupt("generation_jobs.status"))?,
        prompt: row.prompt,
        model: row.model,
        progress: u8::try_from(row.progress.clamp(0, 100)).unwrap_or(0),
        step: row.step,
        attempt: u32::try_from(row.attempt).unwrap_or(0),
        usage: JobUsage {
            prompt_tokens: u64::try_from(row.prompt_tokens).unwrap_or(0),
            completion_tokens: u64::try_from(row.completion_tokens).unwrap_or(0),
            estimated: row.usage_estimated,
        },
        error,
        output: row.output,
        summary: row.summary,
        revision: row.revision.and_then(|n| u64::try_from(n).ok()),
        operations: decode_operations(&row.operations)?,
        cancel_requested: row.cancel_requested,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        updated_at: row.updated_at,
    })
}

fn report_json(r: &OperationReport) -> Value {
    json!({
        "kind": r.kind.as_str(),
        "path": r.path,
        "from": r.from,
        "reason": r.refused.as_ref().map(|(reason, _)| reason.as_str()),
        "message": r.refused.as_ref().map(|(_, message)| message),
        "size": r.size,
        "sha256": r.sha256,
    })
}

fn report_from(v: &Value) -> Option<OperationReport> {
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let refused = match text("reason") {
        Some(reason) => Some((RefusalReason::parse(&reason)?, text("message").unwrap_or_default())),
        None => None,
    };
    Some(OperationReport {
        kind: OperationKind::parse(v.get("kind")?.as_str()?)?,
        path: text("path"),
        from: text("from"),
        refused,
        size: v.get("size").and_then(Value::as_u64),
        sha256: text("sha256"),
    })
}

pub(crate) fn encode_operations(reports: &[OperationReport]) -> String {
    Value::Array(reports.iter().map(report_json).collect()).to_string()
}

fn decode_operations(raw: &str) -> Result<Vec<OperationReport>, StorageError> {
    let bad = || corrupt("generation_jobs.operations");
    let value: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    value.as_array().ok_or_else(bad)?.iter().map(|v| report_from(v).ok_or_else(bad)).collect()
}

pub(crate) fn encode(payload: &JobEventPayload) -> String {
    let value = match payload {
        JobEventPayload::Status { status, attempt } => json!({"status": status.as_str(), "attempt": attempt}),
        JobEventPayload::Progress { progress, step } => json!({"progress": progress, "step": step}),
        JobEventPayload::Delta { text } => json!({"text": text}),
        JobEventPayload::Usage(u) => json!({
            "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "estimated": u.estimated
        }),
        JobEventPayload::File(report) => report_json(report),
        JobEventPayload::End { status, error } => json!({
            "status": status.as_str(),
            "error": error.as_ref().map(|(code, message)| json!({"code": code.as_str(), "message": message})),
        }),
    };
    value.to_string()
}

pub(crate) fn event_from_row(row: generation_events::Model) -> Result<JobEvent, StorageError> {
    let bad = || corrupt("generation_events.data");
    let data: Value = serde_json::from_str(&row.data).map_err(|_| bad())?;
    let status = |v: &Value| v.get("status").and_then(Value::as_str).and_then(JobStatus::parse).ok_or_else(bad);
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).ok_or_else(bad);
    let payload = match row.kind.as_str() {
        "status" => JobEventPayload::Status {
            status: status(&data)?,
            attempt: u32::try_from(number(&data, "attempt")?).map_err(|_| bad())?,
        },
        "progress" => JobEventPayload::Progress {
            progress: u8::try_from(number(&data, "progress")?).map_err(|_| bad())?,
            step: data.get("step").and_then(Value::as_str).map(str::to_owned),
        },
        "delta" => {
            JobEventPayload::Delta { text: data.get("text").and_then(Value::as_str).ok_or_else(bad)?.to_owned() }
        }
        "usage" => JobEventPayload::Usage(JobUsage {
            prompt_tokens: number(&data, "prompt_tokens")?,
            completion_tokens: number(&data, "completion_tokens")?,
            estimated: data.get("estimated").and_then(Value::as_bool).unwrap_or(false),
        }),
        "file" | "file_refused" => JobEventPayload::File(report_from(&data).ok_or_else(bad)?),
        "end" => JobEventPayload::End {
            status: status(&data)?,
            error: match data.get("error") {
                Some(Value::Object(e)) => Some((
                    e.get("code").and_then(Value::as_str).and_then(JobErrorCode::parse).ok_or_else(bad)?,
                    e.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
                )),
                _ => None,
            },
        },
        _ => return Err(corrupt("generation_events.kind")),
    };
    Ok(JobEvent { seq: u64::try_from(row.seq).map_err(|_| bad())?, at: row.created_at, payload })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn every_kind_of_event_reads_back_as_written() {
        let payloads = [
            JobEventPayload::Status { status: JobStatus::Running, attempt: 2 },
            JobEventPayload::Progress { progress: 40, step: Some("writing".into()) },
            JobEventPayload::Progress { progress: 0, step: None },
            JobEventPayload::Delta { text: "héllo \"x\"\n".into() },
            JobEventPayload::Usage(JobUsage { prompt_tokens: 10, completion_tokens: 5, estimated: true }),
            JobEventPayload::End { status: JobStatus::Failed, error: Some((JobErrorCode::WorkerLost, "gone".into())) },
            JobEventPayload::End { status: JobStatus::Succeeded, error: None },
            JobEventPayload::File(OperationReport {
                kind: OperationKind::Write,
                path: Some("src/a.ts".into()),
                from: None,
                refused: None,
                size: Some(12),
                sha256: Some("ab".into()),
            }),
            JobEventPayload::File(OperationReport {
                kind: OperationKind::Rename,
                path: Some("b".into()),
                from: Some("a".into()),
                refused: Some((RefusalReason::AlreadyExists, "b exists".into())),
                size: None,
                sha256: None,
            }),
        ];
        for (i, payload) in payloads.into_iter().enumerate() {
            let row = generation_events::Model {
                job_id: sea_orm::prelude::Uuid::nil(),
                seq: i64::try_from(i).unwrap() + 1,
                kind: payload.kind().to_owned(),
                data: encode(&payload),
                created_at: Utc::now(),
            };
            assert_eq!(event_from_row(row).unwrap().payload, payload);
        }
    }
}
