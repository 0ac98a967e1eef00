//! Stream tickets: single use, and worthless once expired.

use devora_ports::generation::JobStore;

use crate::support::{now, on_both, queue_job, secs, unique, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_is_redeemed_once_and_never_after_it_expires() {
    on_both(|db| async move {
        let owner = user(&db).await;
        let t0 = now();
        let job = queue_job(&db, owner, None, t0).await;
        let hash = |name: &str| format!("{name}-{}", unique());

        let live = hash("live");
        db.create_ticket(&live, job, owner, t0 + secs(30)).await.unwrap();
        assert_eq!(db.redeem_ticket(&live, t0 + secs(1)).await.unwrap(), Some((job, owner)));
        assert_eq!(db.redeem_ticket(&live, t0 + secs(2)).await.unwrap(), None, "a ticket is single use");
        assert_eq!(db.redeem_ticket("never-issued", t0).await.unwrap(), None);

        let expired = hash("expired");
        db.create_ticket(&expired, job, owner, t0 + secs(30)).await.unwrap();
        assert_eq!(db.redeem_ticket(&expired, t0 + secs(30)).await.unwrap(), None, "expired at its expiry");
        db.create_ticket(&expired, job, owner, t0 + secs(30)).await.unwrap();
        assert_eq!(db.redeem_ticket(&expired, t0 + secs(31)).await.unwrap(), None);

        // Browsers racing with one ticket: exactly one gets the stream.
        let raced = hash("raced");
        db.create_ticket(&raced, job, owner, t0 + secs(30)).await.unwrap();
        let racers = (0..6).map(|_| {
            let (db, raced) = (db.clone(), raced.clone());
            tokio::spawn(async move { db.redeem_ticket(&raced, t0 + secs(1)).await })
        });
        let mut winners = 0;
        for racer in racers.collect::<Vec<_>>() {
            match racer.await.unwrap() {
                Ok(Some(found)) => {
                    assert_eq!(found, (job, owner));
                    winners += 1;
                }
                Ok(None) => {}
                Err(err) => panic!("a racing redemption failed: {err}"),
            }
        }
        assert_eq!(winners, 1);

        let (old, older, kept) = (hash("old"), hash("older"), hash("kept"));
        db.create_ticket(&old, job, owner, t0 - secs(1)).await.unwrap();
        db.create_ticket(&older, job, owner, t0 - secs(60)).await.unwrap();
        db.create_ticket(&kept, job, owner, t0 + secs(60)).await.unwrap();
        assert_eq!(db.purge_tickets(t0).await.unwrap(), 2);
        assert_eq!(db.purge_tickets(t0).await.unwrap(), 0);
        assert_eq!(db.redeem_ticket(&kept, t0).await.unwrap(), Some((job, owner)), "a live ticket survives the purge");
    })
    .await;
}
