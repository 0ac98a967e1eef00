//! Billing against a Stripe stand-in: checkout to entitlements, the portal,
//! cancel and resume, invoices, webhooks that take effect once in any order, and
//! reconcile.

use chrono::Utc;
use devora_e2e::standins::{Fault, StripeStandIn};
use serde_json::json;

use super::*;

const SECRET_KEY: &str = "sk_test_devora";
const WEBHOOK_SECRET: &str = "whsec_devora_test";

struct Billed {
    app: TestApp,
    stripe: StripeStandIn,
    _plans: devora_e2e::TempDir,
}

fn catalogue() -> serde_json::Value {
    let limits = |projects: u32| {
        json!({"projects": projects, "generations_per_month": 10, "tokens_per_month": 1000, "concurrent_jobs": 1,
               "storage_bytes": 1_000_000, "models": []})
    };
    json!({"version": 2, "plans": [
        {"id": "free", "name": "Free", "limits": limits(1)},
        {"id": "pro", "name": "Pro", "prices": {"month": "price_pro_m", "year": "price_pro_y"}, "limits": limits(5)},
    ]})
}

impl Billed {
    async fn spawn(variant: Variant, extra: &[(&str, &str)]) -> Self {
        Self::spawn_on(variant, extra, None, None).await
    }

    /// A server on `stripe` (or a new stand-in), sharing `database_url` if given.
    async fn spawn_on(
        variant: Variant,
        extra: &[(&str, &str)],
        stripe: Option<StripeStandIn>,
        database_url: Option<String>,
    ) -> Self {
        let stripe = match stripe {
            Some(stripe) => stripe,
            None => StripeStandIn::start(SECRET_KEY).await,
        };
        let plans = devora_e2e::TempDir::new();
        let file = plans.path().join("plans.json");
        std::fs::write(&file, catalogue().to_string()).unwrap();
        let file = file.to_str().unwrap().to_owned();
        let mut env: Vec<(String, String)> = [
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_API_BASE", stripe.url.as_str()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("BILLING_PLANS_FILE", file.as_str()),
            ("FREE_PLAN_MAX_PROJECTS", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let app = TestApp::spawn_with(variant, Options { env, database_url, ..Options::default() }).await;
        Self { app, stripe, _plans: plans }
    }

    /// Checkout for pro/month, completed at Stripe; the subscription's id.
    async fn subscribe(&self, token: &str) -> String {
        let res =
            self.app.post_as(token, "/api/v2/billing/checkout", &json!({"plan_id": "pro", "interval": "month"})).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let url: Value = res.json().await.unwrap();
        let session = self.stripe.checkout_sessions().last().unwrap().id.clone();
        assert!(url["url"].as_str().unwrap().contains(&session), "{url}");
        self.stripe.complete_checkout(&session)
    }

    async fn deliver(&self, event: &Value) -> reqwest::Response {
        let (body, signature) = StripeStandIn::signed_event(WEBHOOK_SECRET, event);
        self.deliver_raw(body, &signature).await
    }

    async fn deliver_raw(&self, body: Vec<u8>, signature: &str) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/api/v2/billing/webhooks/stripe"))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn plan(&self, token: &str) -> Value {
        self.app.get_json_as(token, "/api/v2/billing/subscription").await
    }

    fn subscription_event(&self, kind: &str, subscription: &str) -> Value {
        StripeStandIn::event(kind, self.stripe.subscription(subscription).unwrap())
    }
}

scenario!(checkout_then_sync_grants_the_plan_and_its_limits, [sqlite_memory, postgres_redis], |variant: Variant| {
    let b = Billed::spawn(variant, &[]).await;
    let signed_in = b.app.new_user().await;
    let token = signed_in.access_token.clone();
    let user_id = signed_in.user["id"].as_str().unwrap().to_owned();
    b.app.create_project_id(&token, "the free one").await;
    assert_problem(b.app.post_as(&token, "/api/v2/projects", &json!({"name": "two"})).await, 403, "plan-limit").await;
    assert_eq!(b.plan(&token).await["plan_id"], "free");

    let subscription = b.subscribe(&token).await;
    // The customer carries the user's id; the session names the user and the price.
    let customers = b.stripe.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].metadata.get("user_id").map(String::as_str), Some(user_id.as_str()));
    let session = b.stripe.checkout_sessions().pop().unwrap();
    assert_eq!(session.client_reference_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(session.price, "price_pro_m");

    // The success page syncs before any webhook.
    let synced: Value =
        b.app.post_as(&token, "/api/v2/billing/subscription/sync", &json!({})).await.json().await.unwrap();
    assert_eq!((synced["plan_id"].as_str(), synced["status"].as_str()), (Some("pro"), Some("active")), "{synced}");
    assert_eq!(synced["interval"], "month");
    assert_eq!(synced["limits"]["projects"], 5);
    let _ = subscription;
    // The upgrade raised the project limit.
    assert_eq!(b.app.post_as(&token, "/api/v2/projects", &json!({"name": "two"})).await.status(), 201);
    // A second checkout is refused: plans change in the portal.
    let again = b.app.post_as(&token, "/api/v2/billing/checkout", &json!({"plan_id": "pro", "interval": "year"})).await;
    assert_problem(again, 409, "conflict").await;
    let portal: Value = b.app.post_as(&token, "/api/v2/billing/portal", &json!({})).await.json().await.unwrap();
    assert!(portal["url"].as_str().is_some_and(|u| !u.is_empty()), "{portal}");
    assert_eq!(b.stripe.portal_sessions(), 1);
    // Every POST carried an Idempotency-Key.
    assert_eq!(b.stripe.idempotency_keys().len(), b.stripe.requests("POST", "/v1/"));
});

scenario!(
    cancel_at_period_end_keeps_the_plan_until_the_period_ends,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[]).await;
        let token = b.app.new_user().await.access_token;
        let subscription = b.subscribe(&token).await;
        b.app.post_as(&token, "/api/v2/billing/subscription/sync", &json!({})).await;
        let canceled: Value =
            b.app.post_as(&token, "/api/v2/billing/subscription/cancel", &json!({})).await.json().await.unwrap();
        assert_eq!(
            (canceled["cancel_at_period_end"].as_bool(), canceled["plan_id"].as_str()),
            (Some(true), Some("pro"))
        );
        assert_eq!(b.stripe.subscription(&subscription).unwrap()["cancel_at_period_end"], true);
        let resumed: Value =
            b.app.post_as(&token, "/api/v2/billing/subscription/resume", &json!({})).await.json().await.unwrap();
        assert_eq!(resumed["cancel_at_period_end"], false);
        // Canceled again, and the period ends: the plan falls back to free.
        b.stripe.set_subscription(&subscription, "active", true, Utc::now() - chrono::Duration::seconds(1));
        assert_eq!(
            b.deliver(&b.subscription_event("customer.subscription.updated", &subscription)).await.status(),
            200
        );
        assert_eq!(b.plan(&token).await["plan_id"], "free");
    }
);

scenario!(past_due_keeps_the_plan_within_the_grace_and_loses_it_after, [sqlite_memory], |variant: Variant| {
    for (grace, expected) in [("72", "pro"), ("0", "free")] {
        let b = Billed::spawn(variant, &[("BILLING_PAST_DUE_GRACE_HOURS", grace)]).await;
        let token = b.app.new_user().await.access_token;
        let p1 = b.app.create_project_id(&token, "one").await;
        let subscription = b.subscribe(&token).await;
        b.app.post_as(&token, "/api/v2/billing/subscription/sync", &json!({})).await;
        let p2 = b.app.create_project_id(&token, "two").await;
        b.stripe.set_subscription(&subscription, "past_due", false, Utc::now() + chrono::Duration::days(20));
        let invoice = json!({"id": "in_failed1", "object": "invoice", "customer": b.stripe.subscription(&subscription).unwrap()["customer"],
                             "subscription": subscription, "status": "open"});
        assert_eq!(b.deliver(&StripeStandIn::event("invoice.payment_failed", invoice)).await.status(), 200);
        let plan = b.plan(&token).await;
        assert_eq!(
            (plan["status"].as_str(), plan["plan_id"].as_str()),
            (Some("past_due"), Some(expected)),
            "grace {grace}h"
        );
        if expected == "free" {
            // Falling back deletes nothing: both projects stay readable; a third is refused.
            for p in [&p1, &p2] {
                assert_eq!(b.app.get_as(&token, &format!("/api/v2/projects/{p}")).await.status(), 200);
            }
            let refused = assert_problem(
                b.app.post_as(&token, "/api/v2/projects", &json!({"name": "three"})).await,
                403,
                "plan-limit",
            )
            .await;
            assert_eq!((refused["limit"].as_u64(), refused["current"].as_u64()), (Some(1), Some(2)));
        }
    }
});

scenario!(webhook_signatures_are_checked_on_the_raw_body, [sqlite_memory], |variant: Variant| {
    let b = Billed::spawn(variant, &[("STRIPE_WEBHOOK_SECRET", "whsec_new,whsec_devora_test")]).await;
    let token = b.app.new_user().await.access_token;
    let subscription = b.subscribe(&token).await;
    let event = b.subscription_event("customer.subscription.created", &subscription);
    let (body, good) = StripeStandIn::signed_event(WEBHOOK_SECRET, &event);
    // Wrong secret, stale timestamp, tampered body, garbage: 400, nothing stored.
    let (_, wrong) = StripeStandIn::signed_event("whsec_other", &event);
    let (_, stale) = StripeStandIn::signed_event_at(WEBHOOK_SECRET, &event, Utc::now().timestamp() - 301);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    for (payload, signature) in
        [(body.clone(), wrong), (body.clone(), stale), (tampered, good.clone()), (body.clone(), "nonsense".to_owned())]
    {
        assert_problem(b.deliver_raw(payload, &signature).await, 400, "webhook-signature-invalid").await;
    }
    assert_eq!(b.plan(&token).await["plan_id"], "free", "nothing was applied");
    // Several v1 entries, one matching; and the rotated (new) secret verifies too.
    let (_, other) = StripeStandIn::signed_event("whsec_other", &event);
    let several = format!("{good},v1={}", other.rsplit("v1=").next().unwrap());
    assert_eq!(b.deliver_raw(body.clone(), &several).await.status(), 200);
    assert_eq!(b.plan(&token).await["plan_id"], "pro");
    let (body, rotated) =
        StripeStandIn::signed_event("whsec_new", &b.subscription_event("customer.subscription.updated", &subscription));
    assert_eq!(b.deliver_raw(body, &rotated).await.status(), 200);
});

scenario!(
    twenty_concurrent_deliveries_of_one_event_take_effect_once,
    [sqlite_memory, postgres_memory],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[("RATE_LIMIT_WEBHOOK", "1000/min")]).await;
        let token = b.app.new_user().await.access_token;
        let subscription = b.subscribe(&token).await;
        let event = b.subscription_event("customer.subscription.created", &subscription);
        let fetches_before = b.stripe.requests("GET", &format!("/v1/subscriptions/{subscription}"));
        let deliveries = (0..20).map(|_| b.deliver(&event));
        let statuses: Vec<u16> =
            futures_util::future::join_all(deliveries).await.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let fetches = b.stripe.requests("GET", &format!("/v1/subscriptions/{subscription}")) - fetches_before;
        assert_eq!(fetches, 1, "one delivery applied the event; the others saw it recorded");
        assert_eq!(b.plan(&token).await["plan_id"], "pro");
    }
);

scenario!(the_same_event_at_two_nodes_sharing_postgres_takes_effect_once, [postgres_memory], |variant: Variant| {
    let first = Billed::spawn(variant, &[]).await;
    let token = first.app.new_user().await.access_token;
    let subscription = first.subscribe(&token).await;
    let event = first.subscription_event("customer.subscription.created", &subscription);
    let Billed { app: first_app, stripe, _plans } = first;
    let second = Billed::spawn_on(variant, &[], Some(stripe), first_app.database_url.clone()).await;
    let (body, signature) = StripeStandIn::signed_event(WEBHOOK_SECRET, &event);
    let send = |app: &TestApp| {
        app.client
            .post(app.url("/api/v2/billing/webhooks/stripe"))
            .header("stripe-signature", signature.clone())
            .body(body.clone())
            .send()
    };
    let before = second.stripe.requests("GET", &format!("/v1/subscriptions/{subscription}"));
    let (a, b) = tokio::join!(send(&first_app), send(&second.app));
    assert_eq!((a.unwrap().status().as_u16(), b.unwrap().status().as_u16()), (200, 200));
    assert_eq!(second.stripe.requests("GET", &format!("/v1/subscriptions/{subscription}")) - before, 1);
    assert_eq!(second.plan(&token).await["plan_id"], "pro");
});

scenario!(
    an_update_delivered_after_the_deletion_leaves_it_deleted,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[]).await;
        let token = b.app.new_user().await.access_token;
        let subscription = b.subscribe(&token).await;
        let updated = b.subscription_event("customer.subscription.updated", &subscription);
        b.stripe.set_subscription(&subscription, "canceled", false, Utc::now());
        let deleted = b.subscription_event("customer.subscription.deleted", &subscription);
        assert_eq!(b.deliver(&deleted).await.status(), 200);
        // The older update arrives late: its payload says active, Stripe says canceled.
        assert_eq!(b.deliver(&updated).await.status(), 200);
        let plan = b.plan(&token).await;
        assert_eq!((plan["status"].as_str(), plan["plan_id"].as_str()), (Some("canceled"), Some("free")), "{plan}");
    }
);

scenario!(
    a_failure_while_applying_answers_5xx_records_nothing_and_the_retry_applies,
    [sqlite_memory],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[]).await;
        let token = b.app.new_user().await.access_token;
        let subscription = b.subscribe(&token).await;
        let event = b.subscription_event("customer.subscription.created", &subscription);
        // Stripe keeps failing past the adapter's retries while the event is applied.
        b.stripe.fail_next(4, Fault::ServerError);
        let failed = b.deliver(&event).await;
        assert_eq!(failed.status(), 503, "{}", failed.text().await.unwrap());
        assert_eq!(b.plan(&token).await["plan_id"], "free");
        // Stripe's retry of the same event applies it.
        assert_eq!(b.deliver(&event).await.status(), 200);
        assert_eq!(b.plan(&token).await["plan_id"], "pro");
    }
);

scenario!(two_first_checkouts_at_once_make_one_customer, [sqlite_memory, postgres_redis], |variant: Variant| {
    let b = Billed::spawn(variant, &[]).await;
    let token = b.app.new_user().await.access_token;
    let body = json!({"plan_id": "pro", "interval": "month"});
    let (x, y) = tokio::join!(
        b.app.post_as(&token, "/api/v2/billing/checkout", &body),
        b.app.post_as(&token, "/api/v2/billing/checkout", &body)
    );
    let (xs, ys) = (x.status().as_u16(), y.status().as_u16());
    let (xt, yt) = (x.text().await.unwrap(), y.text().await.unwrap());
    assert_eq!((xs, ys), (200, 200), "{xt} {yt} {:?}", b.stripe.idempotency_keys());
    assert_eq!(b.stripe.customers().len(), 1, "{:?}", b.stripe.customers());
});

scenario!(invoices_are_paged_newest_first, [sqlite_memory], |variant: Variant| {
    let b = Billed::spawn(variant, &[]).await;
    let token = b.app.new_user().await.access_token;
    let subscription = b.subscribe(&token).await;
    let customer = b.stripe.subscription(&subscription).unwrap()["customer"].as_str().unwrap().to_owned();
    let ids: Vec<String> =
        (0..3).map(|i| b.stripe.add_invoice(&customer, Some(&subscription), 1000 + i, "paid")).collect();
    let page: Value = b.app.get_json_as(&token, "/api/v2/billing/invoices?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["items"][0]["status"], "paid");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value = b.app.get_json_as(&token, &format!("/api/v2/billing/invoices?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let mut seen: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut ids = ids;
    ids.sort();
    assert_eq!(seen, ids);
    assert_problem(b.app.get_as(&token, "/api/v2/billing/invoices?cursor=nope").await, 422, "validation-failed").await;
});

scenario!(reconcile_repairs_drift_once, [sqlite_memory, postgres_redis], |variant: Variant| {
    let b = Billed::spawn(variant, &[]).await;
    let token = b.app.new_user().await.access_token;
    let subscription = b.subscribe(&token).await;
    b.app.post_as(&token, "/api/v2/billing/subscription/sync", &json!({})).await;
    // Changed at Stripe while no webhook got through.
    b.stripe.set_subscription(&subscription, "canceled", false, Utc::now());
    let billing = devora_server::operator_billing(&b.app.settings(vec![])).await.unwrap();
    let report = billing.reconcile().await.unwrap();
    assert_eq!((report.checked, report.repaired.clone(), report.failed.len()), (1, vec![subscription.clone()], 0));
    assert_eq!(b.plan(&token).await["plan_id"], "free");
    let again = billing.reconcile().await.unwrap();
    assert!(again.repaired.is_empty(), "idempotent: {again:?}");

    // Through the admin API, a run is audited with its summary.
    let address = unique_email();
    let ops = devora_server::operator_admin(&b.app.settings(vec![])).await.unwrap();
    let email = devora_domain::Email::parse(&address).unwrap();
    ops.create_admin(
        email,
        devora_domain::Password::parse(PASSWORD).unwrap(),
        devora_domain::UserName::parse("Ops").unwrap(),
    )
    .await
    .unwrap();
    let admin = b.app.sign_in(&address, PASSWORD).await.access_token;
    let res = b.app.post_as(&admin, "/api/v2/admin/billing/reconcile", &json!({})).await;
    assert_eq!(res.status().as_u16(), 200);
    let log = b.app.get_json_as(&admin, "/api/v2/admin/audit-log?action=billing_reconciled").await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(log["items"][0]["after"], json!({"checked": "1", "repaired": "0", "failed": "0"}));
});

scenario!(
    a_subscription_paid_for_but_not_yet_heard_of_blocks_a_second_checkout,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[]).await;
        let token = b.app.new_user().await.access_token;
        // Paid at Stripe; neither the webhook nor the success page's sync has come.
        b.subscribe(&token).await;
        assert_eq!(b.plan(&token).await["status"], Value::Null);
        let sessions = b.stripe.checkout_sessions().len();
        let again =
            b.app.post_as(&token, "/api/v2/billing/checkout", &json!({"plan_id": "pro", "interval": "year"})).await;
        assert_problem(again, 409, "conflict").await;
        assert_eq!(b.stripe.checkout_sessions().len(), sessions, "no second Checkout session");
        assert_eq!(b.plan(&token).await["plan_id"], "pro", "and Devora learned of the subscription");
    }
);

scenario!(an_invoices_cursor_stripe_does_not_know_is_a_422, [sqlite_memory], |variant: Variant| {
    let b = Billed::spawn(variant, &[]).await;
    let token = b.app.new_user().await.access_token;
    let subscription = b.subscribe(&token).await;
    let customer = b.stripe.subscription(&subscription).unwrap()["customer"].as_str().unwrap().to_owned();
    b.stripe.add_invoice(&customer, Some(&subscription), 100, "paid");
    let res = b.app.get_as(&token, "/api/v2/billing/invoices?cursor=in_unknown123").await;
    let problem = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "cursor");
});

scenario!(
    the_past_due_grace_runs_from_the_failed_payment_not_from_its_late_delivery,
    [sqlite_memory],
    |variant: Variant| {
        for (days_ago, expected) in [(1, "pro"), (4, "free")] {
            let b = Billed::spawn(variant, &[]).await;
            let token = b.app.new_user().await.access_token;
            let subscription = b.subscribe(&token).await;
            b.stripe.set_subscription(&subscription, "past_due", false, Utc::now() + chrono::Duration::days(20));
            let customer = b.stripe.subscription(&subscription).unwrap()["customer"].clone();
            let invoice =
                json!({"id": "in_failed2", "object": "invoice", "customer": customer, "subscription": subscription});
            let mut event = StripeStandIn::event("invoice.payment_failed", invoice);
            // Delivered now (Stripe retried, or the endpoint was down), about a payment that failed then.
            event["created"] = json!((Utc::now() - chrono::Duration::days(days_ago)).timestamp());
            assert_eq!(b.deliver(&event).await.status(), 200);
            let plan = b.plan(&token).await;
            assert_eq!(
                (plan["status"].as_str(), plan["plan_id"].as_str()),
                (Some("past_due"), Some(expected)),
                "{days_ago} days ago"
            );
        }
    }
);

scenario!(
    reconcile_adopts_a_customer_made_for_a_user_outside_devora,
    [sqlite_memory, postgres_redis],
    |variant: Variant| {
        let b = Billed::spawn(variant, &[]).await;
        let signed_in = b.app.new_user().await;
        let user_id = signed_in.user["id"].as_str().unwrap().to_owned();
        let email = signed_in.user["email"].as_str().unwrap().to_owned();
        // Made in the dashboard: Devora never recorded this customer.
        let customer = b.stripe.add_customer(&email, Some(&user_id));
        let subscription = b.stripe.add_subscription(&customer, "price_pro_m", Some(&user_id));
        // And one for nobody of ours.
        let stranger = b.stripe.add_customer("someone@example.com", None);
        b.stripe.add_subscription(&stranger, "price_pro_m", None);
        let billing = devora_server::operator_billing(&b.app.settings(vec![])).await.unwrap();
        let report = billing.reconcile().await.unwrap();
        assert_eq!((report.checked, report.repaired.clone()), (1, vec![subscription]), "{report:?}");
        assert_eq!(b.plan(&signed_in.access_token).await["plan_id"], "pro");
        assert!(billing.reconcile().await.unwrap().repaired.is_empty());
    }
);
