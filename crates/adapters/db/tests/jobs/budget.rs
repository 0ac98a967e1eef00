//! Plan limits: admission is decided under the owner's lock, and token
//! reservations cannot together spend more than the month has.

use devora_domain::generation::{Admission, LimitKind, TokenGrant, billing_period};
use devora_domain::{JobStatus, JobUsage};
use devora_ports::generation::{CreateJobError, JobFilter, JobStore, Reservation};

use crate::support::{claim, generous, lease_row, new_job, now, on_both, secs, succeeded, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_cannot_together_pass_the_monthly_generations() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let (start, resets_at) = billing_period(t0);
        // Last period's job counts as active, not against this month.
        let old = db.create_job(new_job(owner, None, start - secs(60)), &generous()).await.unwrap();
        let plan = Admission { generations_per_month: 3, resets_at, ..generous() };
        let requests = (0..10).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.create_job(new_job(owner, None, t0), &plan).await })
        });
        let (mut created, mut refused) = (0, 0);
        for request in requests.collect::<Vec<_>>() {
            match request.await.unwrap() {
                Ok(job) => {
                    assert_eq!(job.status, JobStatus::Queued);
                    created += 1;
                }
                Err(CreateJobError::Limit(refusal)) => {
                    assert_eq!((refusal.kind, refusal.limit, refusal.used), (LimitKind::Generations, 3, 3));
                    assert_eq!(refusal.resets_at, Some(resets_at));
                    refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((created, refused), (3, 7));
        let usage = db.period_usage(owner, start).await.unwrap();
        assert_eq!((usage.generations, usage.active_jobs), (3, 4), "{usage:?}");
        let listed = db.list_jobs(Some(owner), JobFilter::default(), None, 100).await.unwrap();
        assert_eq!(listed.items.len(), 4);
        assert_eq!(listed.items.last().map(|j| j.id), Some(old.id), "newest first");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_cannot_together_pass_the_concurrent_jobs_limit() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let plan = Admission { concurrent_jobs: 2, ..generous() };
        let requests = (0..10).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.create_job(new_job(owner, None, t0), &plan).await })
        });
        let mut created = 0;
        for request in requests.collect::<Vec<_>>() {
            match request.await.unwrap() {
                Ok(_) => created += 1,
                Err(CreateJobError::Limit(refusal)) => {
                    assert_eq!((refusal.kind, refusal.used, refusal.resets_at), (LimitKind::ConcurrentJobs, 2, None));
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(created, 2);
        let usage = db.period_usage(owner, billing_period(t0).0).await.unwrap();
        assert_eq!((usage.generations, usage.active_jobs), (2, 2), "{usage:?}");

        // A running job still counts; an ended one frees its place.
        let lease = claim(&db, "w", t0 + secs(1)).await.unwrap();
        let refused = db.create_job(new_job(owner, None, t0 + secs(2)), &plan).await;
        assert!(matches!(refused, Err(CreateJobError::Limit(r)) if r.kind == LimitKind::ConcurrentJobs));
        db.finish(&lease, succeeded("done"), t0 + secs(3)).await.unwrap();
        db.create_job(new_job(owner, None, t0 + secs(4)), &plan).await.unwrap();
        let usage = db.period_usage(owner, billing_period(t0).0).await.unwrap();
        assert_eq!((usage.generations, usage.active_jobs), (3, 2), "{usage:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_cannot_spend_more_than_the_month_has() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let (start, _) = billing_period(t0);
        let plan = Admission { tokens_per_month: 1000, ..generous() };
        let mut leases = Vec::new();
        for i in 0..5 {
            db.create_job(new_job(owner, None, t0 + secs(i)), &plan).await.unwrap();
            leases.push(claim(&db, &format!("w{i}"), t0 + secs(10)).await.unwrap());
        }
        let calls = leases.iter().cloned().map(|lease| {
            let db = db.clone();
            tokio::spawn(async move { (db.reserve_tokens(&lease, 1000, start, 100, 300, 16).await.unwrap(), lease) })
        });
        let (mut granted, mut exhausted) = (Vec::new(), 0);
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                (Reservation::Granted(grant), lease) => granted.push((grant, lease)),
                (Reservation::Exhausted, _) => exhausted += 1,
            }
        }
        let sum: u64 = granted.iter().map(|(g, _)| g.reserved).sum();
        assert!(sum <= 1000, "reserved {sum} of 1000");
        granted.sort_by_key(|(g, _)| std::cmp::Reverse(g.reserved));
        let grants: Vec<TokenGrant> = granted.iter().map(|(g, _)| *g).collect();
        let full = TokenGrant { max_tokens: 300, reserved: 400 };
        assert_eq!(grants, vec![full, full, TokenGrant { max_tokens: 100, reserved: 200 }], "later calls get less");
        assert_eq!(exhausted, 2);
        for (grant, lease) in &granted {
            assert_eq!(lease_row(&db, lease.job.id).await.reserved, i64::try_from(grant.reserved).unwrap());
        }
        let usage = db.period_usage(owner, start).await.unwrap();
        assert_eq!((usage.tokens_used, usage.tokens_reserved), (0, 1000));
        let refused = db.create_job(new_job(owner, None, t0 + secs(11)), &plan).await;
        assert!(matches!(refused, Err(CreateJobError::Limit(r)) if r.kind == LimitKind::Tokens && r.used == 1000));

        // Settling swaps each call's reservation for what it really used.
        let real = [(100, 250), (90, 100), (100, 100)];
        let usage_of = |(p, c): (u64, u64)| JobUsage { prompt_tokens: p, completion_tokens: c, estimated: false };
        for ((grant, lease), spent) in granted.iter().zip(real).take(2) {
            db.settle_tokens(lease, grant.reserved, usage_of(spent), t0 + secs(12)).await.unwrap();
        }
        let usage = db.period_usage(owner, start).await.unwrap();
        assert_eq!((usage.tokens_used, usage.tokens_reserved), (540, 200), "{usage:?}");
        let (grant, lease) = &granted[2];
        db.settle_tokens(lease, grant.reserved, usage_of(real[2]), t0 + secs(12)).await.unwrap();
        let usage = db.period_usage(owner, start).await.unwrap();
        assert_eq!((usage.tokens_used, usage.tokens_reserved), (740, 0), "{usage:?}");

        // What is left is granted again; finishing releases a reservation never settled.
        let (_, lease) = &granted[0];
        let again = db.reserve_tokens(lease, 1000, start, 100, 300, 16).await.unwrap();
        assert_eq!(again, Reservation::Granted(TokenGrant { max_tokens: 160, reserved: 260 }));
        let none_left = db.reserve_tokens(&granted[1].1, 1000, start, 100, 300, 16).await.unwrap();
        assert_eq!(none_left, Reservation::Exhausted);
        db.finish(lease, succeeded("done"), t0 + secs(13)).await.unwrap();
        let usage = db.period_usage(owner, start).await.unwrap();
        assert_eq!((usage.tokens_used, usage.tokens_reserved), (740, 0), "{usage:?}");
        assert_eq!(db.find_job(lease.job.id).await.unwrap().unwrap().usage, usage_of(real[0]));
    })
    .await;
}
