//! Claims: each job to one worker, one running job per project, oldest first;
//! the rescuer's requeue and give-up; a worker's release.

use std::collections::BTreeSet;

use devora_db::Backend;
use devora_domain::{JobErrorCode, JobEventPayload, JobId, JobStatus};
use devora_ports::generation::{FencedError, JobStore, QueueStats, RescueReport};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::support::{
    LEASE, claim, generous, lease_row, new_job, now, on_both, payloads, project, queue_job, secs, status, succeeded,
    user,
};

fn count(stats: &QueueStats, wanted: JobStatus) -> u64 {
    stats.by_status.iter().find(|(s, _)| *s == wanted).map_or(0, |(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_take_each_job_exactly_once() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let mut queued = BTreeSet::new();
        for i in 0..12 {
            let project = project(&db, owner).await;
            queued.insert(queue_job(&db, owner, Some(project), t0 + chrono::TimeDelta::milliseconds(i)).await);
        }
        let stats = db.queue_stats(t0).await.unwrap();
        assert_eq!((count(&stats, JobStatus::Queued), stats.oldest_queued), (12, Some(t0)), "{stats:?}");

        let claimers = (0..6).map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let worker = format!("worker-{w}");
                let mut taken = Vec::new();
                while let Some(lease) = db.claim(&worker, LEASE, t0 + secs(1)).await.unwrap() {
                    taken.push((worker.clone(), lease));
                }
                taken
            })
        });
        let mut leases = Vec::new();
        for claimer in claimers.collect::<Vec<_>>() {
            leases.extend(claimer.await.unwrap());
        }
        let claimed: Vec<JobId> = leases.iter().map(|(_, l)| l.job.id).collect();
        assert_eq!(claimed.len(), 12, "every job claimed once: {claimed:?}");
        assert_eq!(claimed.iter().copied().collect::<BTreeSet<_>>(), queued);
        let fences: BTreeSet<(JobId, i64)> = leases.iter().map(|(_, l)| (l.job.id, l.fence)).collect();
        assert_eq!(fences.len(), 12, "one fence per claim");
        for (worker, lease) in &leases {
            let id = lease.job.id;
            assert_eq!((lease.job.status, lease.job.attempt, lease.seq), (JobStatus::Running, 1, 2), "{lease:?}");
            assert!(lease.fence > 0);
            let stored = db.find_job(id).await.unwrap().unwrap();
            assert_eq!((stored.status, stored.attempt, stored.started_at), (JobStatus::Running, 1, Some(t0 + secs(1))));
            let row = lease_row(&db, id).await;
            assert_eq!((row.owner.as_deref(), row.fence), (Some(worker.as_str()), lease.fence));
            assert_eq!(row.until, Some(t0 + secs(61)));
            assert_eq!(payloads(&db, id).await, vec![status(JobStatus::Queued, 0), status(JobStatus::Running, 1)]);
        }
        let stats = db.queue_stats(t0).await.unwrap();
        assert_eq!((count(&stats, JobStatus::Running), count(&stats, JobStatus::Queued)), (12, 0), "{stats:?}");
        assert_eq!(stats.oldest_queued, None);
        assert!(claim(&db, "late", t0 + secs(2)).await.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_runs_one_job_at_a_time_oldest_first() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let (busy, other) = (project(&db, owner).await, project(&db, owner).await);
        let t0 = now();
        let first = queue_job(&db, owner, Some(busy), t0).await;
        let second = queue_job(&db, owner, Some(busy), t0 + secs(1)).await;
        let elsewhere = queue_job(&db, owner, Some(other), t0 + secs(2)).await;
        let at = t0 + secs(3);

        let running = claim(&db, "w1", at).await.expect("the oldest job");
        assert_eq!(running.job.id, first);
        let taken = claim(&db, "w2", at).await.map(|l| l.job.id);
        assert_eq!(taken, Some(elsewhere), "the busy project is passed over, not waited on");
        assert!(claim(&db, "w3", at).await.is_none(), "the project's second job waits while its first runs");
        assert_eq!(db.find_job(second).await.unwrap().unwrap().status, JobStatus::Queued);

        db.finish(&running, succeeded("done"), at + secs(1)).await.unwrap();
        let next = claim(&db, "w3", at + secs(2)).await.expect("the project is free again");
        assert_eq!((next.job.id, next.job.attempt), (second, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_start_only_the_oldest_job_of_a_project() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let shared = project(&db, owner).await;
        let t0 = now();
        let mut jobs = Vec::new();
        for i in 0..4 {
            jobs.push(queue_job(&db, owner, Some(shared), t0 + secs(i)).await);
        }
        let claimers = (0..4).map(|w| {
            let db = db.clone();
            tokio::spawn(async move { db.claim(&format!("w{w}"), LEASE, t0 + secs(10)).await.unwrap() })
        });
        let mut taken = Vec::new();
        for claimer in claimers.collect::<Vec<_>>() {
            taken.extend(claimer.await.unwrap().map(|l| l.job.id));
        }
        assert_eq!(taken, vec![jobs[0]], "one claim wins, and it starts the oldest");
        for later in &jobs[1..] {
            assert_eq!(db.find_job(*later).await.unwrap().unwrap().status, JobStatus::Queued);
        }
    })
    .await;
}

/// A Postgres claim skips rows another transaction holds; the job behind a held
/// one in the same project must not start in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_held_by_another_claim_is_not_overtaken_by_a_younger_one_of_its_project() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let shared = project(&db, owner).await;
        let t0 = now();
        let oldest = queue_job(&db, owner, Some(shared), t0).await;
        let younger = queue_job(&db, owner, Some(shared), t0 + secs(1)).await;
        if db.backend() == Backend::Postgres {
            // Another node's claim in flight, holding the oldest job's row.
            let other = db.connection().begin().await.unwrap();
            let hold = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM generation_jobs WHERE id = $1 FOR UPDATE",
                [oldest.as_uuid().into()],
            );
            other.query_one_raw(hold).await.unwrap().unwrap();
            let taken = claim(&db, "w1", t0 + secs(2)).await.map(|l| l.job.id);
            assert_eq!(taken, None, "the younger job jumped the queue");
            other.rollback().await.unwrap();
        }
        let taken = claim(&db, "w2", t0 + secs(3)).await.map(|l| l.job.id);
        assert_eq!(taken, Some(oldest));
        assert_eq!(db.find_job(younger).await.unwrap().unwrap().status, JobStatus::Queued);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rescuer_requeues_an_expired_lease_and_fails_the_job_once_its_attempts_run_out() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let job = queue_job(&db, owner, None, t0).await;
        let first = db.claim("a", std::time::Duration::from_secs(10), t0 + secs(1)).await.unwrap().unwrap();
        assert_eq!(db.rescue_expired(t0 + secs(5), 2).await.unwrap(), RescueReport::default(), "still held");
        let report = db.rescue_expired(t0 + secs(20), 2).await.unwrap();
        assert_eq!(report, RescueReport { requeued: vec![job], failed: vec![], cancelled: vec![] });
        assert_eq!(lease_row(&db, job).await.owner, None);

        let second = db.claim("b", std::time::Duration::from_secs(10), t0 + secs(21)).await.unwrap().unwrap();
        assert_eq!((second.job.id, second.job.attempt), (job, 2));
        assert!(second.fence > first.fence);
        // A job another worker holds for longer is left alone.
        let held = queue_job(&db, owner, None, t0 + secs(22)).await;
        let long = db.claim("c", std::time::Duration::from_secs(3600), t0 + secs(23)).await.unwrap().unwrap();
        assert_eq!(long.job.id, held);

        let report = db.rescue_expired(t0 + secs(40), 2).await.unwrap();
        assert_eq!(report, RescueReport { requeued: vec![], failed: vec![job], cancelled: vec![] });
        let failed = db.find_job(job).await.unwrap().unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error.as_ref().map(|e| e.code), Some(JobErrorCode::WorkerLost));
        assert_eq!(failed.finished_at, Some(t0 + secs(40)));
        let log = payloads(&db, job).await;
        assert_eq!(
            log[..4],
            [
                status(JobStatus::Queued, 0),
                status(JobStatus::Running, 1),
                status(JobStatus::Queued, 1),
                status(JobStatus::Running, 2)
            ]
        );
        assert!(
            matches!(
                &log[4..],
                [JobEventPayload::End { status: JobStatus::Failed, error: Some((JobErrorCode::WorkerLost, _)) }]
            ),
            "{log:?}"
        );
        assert!(matches!(db.heartbeat(&second, t0 + secs(50)).await, Err(FencedError::Lost)));
        assert!(db.heartbeat(&long, t0 + secs(3600)).await.is_ok(), "the held lease is still its worker's");
        assert!(claim(&db, "d", t0 + secs(41)).await.is_none(), "a failed job is not queued again");

        // A job asked to stop whose worker vanished ends cancelled, not requeued.
        let stopping = queue_job(&db, owner, None, t0 + secs(42)).await;
        let lease = db.claim("e", std::time::Duration::from_secs(10), t0 + secs(43)).await.unwrap().unwrap();
        assert_eq!(lease.job.id, stopping);
        db.request_cancel(Some(owner), stopping, t0 + secs(44), None).await.unwrap().unwrap();
        let report = db.rescue_expired(t0 + secs(60), 5).await.unwrap();
        assert!(!report.requeued.contains(&stopping) && !report.failed.contains(&stopping), "{report:?}");
        assert_eq!(report.cancelled, vec![stopping]);
        assert_eq!(db.find_job(stopping).await.unwrap().unwrap().status, JobStatus::Cancelled);
        let log = payloads(&db, stopping).await;
        assert_eq!(log.last(), Some(&JobEventPayload::End { status: JobStatus::Cancelled, error: None }));
        assert!(claim(&db, "f", t0 + secs(61)).await.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_job_goes_back_to_the_queue_without_counting_the_attempt() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let job = db.create_job(new_job(owner, None, t0), &generous()).await.unwrap().id;
        let lease = claim(&db, "stopping", t0 + secs(1)).await.unwrap();
        db.reserve_tokens(&lease, 1_000_000, t0 - secs(1), 100, 300, 16).await.unwrap();
        assert_eq!(lease_row(&db, job).await.reserved, 400);

        let event = db.release(&lease, t0 + secs(2)).await.unwrap();
        assert_eq!((event.seq, event.payload), (3, status(JobStatus::Queued, 0)));
        let queued = db.find_job(job).await.unwrap().unwrap();
        assert_eq!((queued.status, queued.attempt), (JobStatus::Queued, 0));
        let row = lease_row(&db, job).await;
        assert_eq!((row.owner, row.until, row.reserved), (None, None, 0), "the lease and its reservation are gone");
        assert!(matches!(db.heartbeat(&lease, t0 + secs(3)).await, Err(FencedError::Lost)));

        let again = claim(&db, "next", t0 + secs(3)).await.expect("the released job");
        assert_eq!((again.job.id, again.job.attempt), (job, 1));
        assert!(again.fence > lease.fence);
        assert_eq!(
            payloads(&db, job).await,
            vec![
                status(JobStatus::Queued, 0),
                status(JobStatus::Running, 1),
                status(JobStatus::Queued, 0),
                status(JobStatus::Running, 1)
            ]
        );
    })
    .await;
}
