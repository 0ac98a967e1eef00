//! Fenced writes: a worker whose lease was taken over changes nothing; the event
//! log every write appends to; cancellation of queued and running jobs.

use devora_domain::{JobEventPayload, JobStatus, JobUsage};
use devora_ports::generation::{CancelOutcome, FencedError, JobStore, LeaseState, Outcome, Reservation};

use crate::support::{claim, events, lease_row, now, on_both, payloads, queue_job, secs, status, succeeded, user};

fn delta(text: &str) -> JobEventPayload {
    JobEventPayload::Delta { text: text.to_owned() }
}

fn progress(progress: u8, step: &str) -> JobEventPayload {
    JobEventPayload::Progress { progress, step: Some(step.to_owned()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_lease_was_taken_over_changes_nothing() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let job = queue_job(&db, owner, None, t0).await;
        let a = claim(&db, "a", t0 + secs(1)).await.unwrap();
        let report = db.rescue_expired(t0 + secs(62), 3).await.unwrap();
        assert_eq!(report.requeued, vec![job], "A's lease ran out at t0+61s");
        let b = claim(&db, "b", t0 + secs(63)).await.unwrap();
        assert_eq!((b.job.id, b.job.attempt), (job, 2));
        assert_ne!(a.fence, b.fence);

        db.heartbeat(&b, t0 + secs(200)).await.unwrap();
        db.append_events(&b, vec![progress(10, "b works")], t0 + secs(64)).await.unwrap();
        let Reservation::Granted(grant) = db.reserve_tokens(&b, 10_000, t0, 100, 300, 16).await.unwrap() else {
            panic!("B's reservation was refused");
        };
        let job_before = db.find_job(job).await.unwrap().unwrap();
        let row_before = lease_row(&db, job).await;
        let log_before = events(&db, job).await;
        assert_eq!((row_before.owner.as_deref(), row_before.reserved), (Some("b"), 400));

        let late = t0 + secs(65);
        let lost = |what: &str, lost: bool| assert!(lost, "A's {what} was not refused as Lost");
        lost("heartbeat", matches!(db.heartbeat(&a, t0 + secs(900)).await, Err(FencedError::Lost)));
        let appended = db.append_events(&a, vec![delta("from a"), progress(90, "a")], late).await;
        lost("append", matches!(appended, Err(FencedError::Lost)));
        lost("reserve", matches!(db.reserve_tokens(&a, 10_000, t0, 100, 300, 16).await, Err(FencedError::Lost)));
        let usage = JobUsage { prompt_tokens: 100, completion_tokens: 50, estimated: false };
        lost("settle", matches!(db.settle_tokens(&a, 400, usage, late).await, Err(FencedError::Lost)));
        lost("finish", matches!(db.finish(&a, succeeded("a's output"), late).await, Err(FencedError::Lost)));
        lost("release", matches!(db.release(&a, late).await, Err(FencedError::Lost)));

        assert_eq!(db.find_job(job).await.unwrap().unwrap(), job_before, "A changed the job");
        assert_eq!(lease_row(&db, job).await, row_before, "A changed the lease");
        assert_eq!(events(&db, job).await, log_before, "A appended to the log");

        // B's writes still land.
        let (appended, state) = db.append_events(&b, vec![delta("from b")], late).await.unwrap();
        assert_eq!(
            (appended[0].seq, state),
            (u64::try_from(log_before.len()).unwrap() + 1, LeaseState { cancel_requested: false })
        );
        db.settle_tokens(&b, grant.reserved, usage, late).await.unwrap();
        db.finish(&b, succeeded("b's output"), late).await.unwrap();
        let done = db.find_job(job).await.unwrap().unwrap();
        assert_eq!((done.status, done.output.as_str(), done.usage), (JobStatus::Succeeded, "b's output", usage));
        assert_eq!(lease_row(&db, job).await.reserved, 0);
        let after_end = db.append_events(&b, vec![delta("after the end")], late).await;
        assert!(matches!(after_end, Err(FencedError::Lost)), "an ended job takes no more writes");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_log_is_numbered_without_gaps_and_read_from_any_point() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let job = queue_job(&db, owner, None, t0).await;
        let lease = claim(&db, "w", t0 + secs(1)).await.unwrap();
        assert_eq!(lease.seq, 2);
        let (appended, _) = db
            .append_events(&lease, vec![progress(30, "planning"), delta("Hel"), delta("lo")], t0 + secs(2))
            .await
            .unwrap();
        assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        let stepped = db.find_job(job).await.unwrap().unwrap();
        assert_eq!((stepped.progress, stepped.step.as_deref()), (30, Some("planning")));

        let first = JobUsage { prompt_tokens: 100, completion_tokens: 40, estimated: false };
        let usage = db.settle_tokens(&lease, 0, first, t0 + secs(3)).await.unwrap();
        assert_eq!((usage.seq, usage.payload), (6, JobEventPayload::Usage(first)));
        let (appended, _) = db.append_events(&lease, vec![], t0 + secs(3)).await.unwrap();
        assert!(appended.is_empty(), "nothing appended, no number used");
        let second = JobUsage { prompt_tokens: 150, completion_tokens: 10, estimated: true };
        let totals = JobUsage { prompt_tokens: 250, completion_tokens: 50, estimated: true };
        let usage = db.settle_tokens(&lease, 0, second, t0 + secs(4)).await.unwrap();
        assert_eq!((usage.seq, usage.payload), (7, JobEventPayload::Usage(totals)), "usage events carry totals");
        let (appended, _) = db.append_events(&lease, vec![progress(80, "writing")], t0 + secs(5)).await.unwrap();
        assert_eq!(appended[0].seq, 8);
        let end = db.finish(&lease, succeeded("Hello"), t0 + secs(6)).await.unwrap();
        assert_eq!((end.seq, end.payload), (9, JobEventPayload::End { status: JobStatus::Succeeded, error: None }));

        let log = events(&db, job).await;
        assert_eq!(
            log.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
            vec![
                status(JobStatus::Queued, 0),
                status(JobStatus::Running, 1),
                progress(30, "planning"),
                delta("Hel"),
                delta("lo"),
                JobEventPayload::Usage(first),
                JobEventPayload::Usage(totals),
                progress(80, "writing"),
                JobEventPayload::End { status: JobStatus::Succeeded, error: None },
            ]
        );
        assert_eq!(log[0].at, t0);
        assert_eq!(log[8].at, t0 + secs(6));
        let seqs = |events: Vec<devora_domain::JobEvent>| events.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(db.events_after(job, 3, 2).await.unwrap()), vec![4, 5]);
        assert_eq!(seqs(db.events_after(job, 6, 100).await.unwrap()), vec![7, 8, 9]);
        assert!(db.events_after(job, 9, 100).await.unwrap().is_empty());
        assert_eq!(db.events_after(job, 4, 1).await.unwrap(), vec![log[4].clone()]);

        let done = db.find_job(job).await.unwrap().unwrap();
        assert_eq!((done.progress, done.step.as_deref(), done.usage), (100, Some("writing"), totals));
        assert_eq!((done.output.as_str(), done.finished_at), ("Hello", Some(t0 + secs(6))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_ends_a_queued_job_at_once_and_asks_a_running_one_to_stop() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let stranger = user(&db).await;
        let t0 = now();
        let running = queue_job(&db, owner, None, t0).await;
        let lease = claim(&db, "w", t0 + secs(1)).await.unwrap();
        assert_eq!(lease.job.id, running);
        let queued = queue_job(&db, owner, None, t0 + secs(2)).await;

        assert_eq!(db.request_cancel(Some(stranger), queued, t0 + secs(3), None).await.unwrap(), None, "not theirs");
        assert_eq!(db.request_cancel(Some(stranger), running, t0 + secs(3), None).await.unwrap(), None);
        assert_eq!(db.request_cancel(Some(owner), devora_domain::JobId::new(), t0, None).await.unwrap(), None);
        assert_eq!(db.find_job(queued).await.unwrap().unwrap().status, JobStatus::Queued, "the stranger changed it");

        let cancelled = db.request_cancel(Some(owner), queued, t0 + secs(4), None).await.unwrap();
        assert_eq!(cancelled, Some(CancelOutcome::Cancelled { seq: 2 }));
        let job = db.find_job(queued).await.unwrap().unwrap();
        assert_eq!((job.status, job.finished_at), (JobStatus::Cancelled, Some(t0 + secs(4))));
        assert_eq!(
            payloads(&db, queued).await,
            vec![status(JobStatus::Queued, 0), JobEventPayload::End { status: JobStatus::Cancelled, error: None }]
        );
        assert!(claim(&db, "w2", t0 + secs(5)).await.is_none(), "a cancelled job is never claimed");

        let before = lease_row(&db, running).await;
        let asked = db.request_cancel(Some(owner), running, t0 + secs(6), None).await.unwrap();
        assert_eq!(asked, Some(CancelOutcome::Requested));
        let job = db.find_job(running).await.unwrap().unwrap();
        assert_eq!((job.status, job.cancel_requested), (JobStatus::Running, true));
        assert_eq!(lease_row(&db, running).await, before, "the worker keeps its lease until it stops");
        let stop = LeaseState { cancel_requested: true };
        assert_eq!(db.heartbeat(&lease, t0 + secs(100)).await.unwrap(), stop);
        let (_, state) = db.append_events(&lease, vec![delta("partial")], t0 + secs(7)).await.unwrap();
        assert_eq!(state, stop);
        assert_eq!(db.request_cancel(None, running, t0 + secs(8), None).await.unwrap(), Some(CancelOutcome::Requested));

        let outcome = Outcome {
            status: JobStatus::Cancelled,
            error: None,
            output: "partial".to_owned(),
            summary: None,
            revision: None,
            operations: vec![],
            usage: devora_domain::JobUsage::default(),
        };
        db.finish(&lease, outcome, t0 + secs(9)).await.unwrap();
        for id in [queued, running] {
            let again = db.request_cancel(Some(owner), id, t0 + secs(10), None).await.unwrap();
            assert_eq!(again, Some(CancelOutcome::AlreadyFinished));
        }
        assert_eq!(payloads(&db, running).await.len(), 4, "nothing appended to an ended job");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_lease_was_taken_over_writes_no_file() {
    use devora_domain::{FilePath, RevisionKind};
    use devora_ports::{FileChange, FileLimits, JobLease, ProjectRepository, PutFileError, RevisionTarget};
    on_both(|db| async move {
        let owner = user(&db).await;
        let project = crate::support::project(&db, owner).await;
        let t0 = now();
        let job = queue_job(&db, owner, Some(project), t0).await;
        let a = claim(&db, "a", t0 + secs(1)).await.unwrap();
        db.rescue_expired(t0 + secs(62), 3).await.unwrap();
        let b = claim(&db, "b", t0 + secs(63)).await.unwrap();
        let limits = FileLimits { max_files: 10, max_project_bytes: 10_000 };
        let write = |content: &str| FileChange::Put {
            path: FilePath::parse("src/a.ts").unwrap(),
            content: content.as_bytes().to_vec(),
            sha256: format!("sha-{content}"),
            create_only: false,
        };
        let target = || RevisionTarget::New { kind: RevisionKind::Job, job: Some(job) };
        let late = db
            .apply_changes(
                project,
                vec![write("from a")],
                target(),
                t0 + secs(64),
                limits,
                Some(JobLease { job, fence: a.fence }),
            )
            .await;
        assert!(matches!(late, Err(PutFileError::LeaseLost)), "{late:?}");
        assert!(db.read_file(project, &FilePath::parse("src/a.ts").unwrap()).await.unwrap().is_none());
        assert_eq!(db.job_revision(project, job).await.unwrap(), None);
        let applied = db
            .apply_changes(
                project,
                vec![write("from b")],
                target(),
                t0 + secs(64),
                limits,
                Some(JobLease { job, fence: b.fence }),
            )
            .await
            .unwrap();
        assert_eq!(db.job_revision(project, job).await.unwrap(), applied.revision);
        let (_, content) = db.read_file(project, &FilePath::parse("src/a.ts").unwrap()).await.unwrap().unwrap();
        assert_eq!(content, b"from b");
    })
    .await;
}
