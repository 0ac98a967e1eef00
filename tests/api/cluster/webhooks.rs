//! A Stripe event delivered to every node at once takes effect once, and every
//! node then serves the new plan.

use devora_e2e::standins::StripeStandIn;
use devora_e2e::{Cluster, ClusterOptions, owned};
use serde_json::json;

use super::*;

const SECRET_KEY: &str = "sk_test_devora_cluster";
const WEBHOOK_SECRET: &str = "whsec_devora_cluster";

fn catalogue() -> Value {
    let limits = |projects: u32| {
        json!({"projects": projects, "generations_per_month": 10, "tokens_per_month": 1000, "concurrent_jobs": 1,
               "storage_bytes": 1_000_000, "models": []})
    };
    json!({"version": 3, "plans": [
        {"id": "free", "name": "Free", "limits": limits(1)},
        {"id": "pro", "name": "Pro", "prices": {"month": "price_pro_m", "year": "price_pro_y"}, "limits": limits(5)},
    ]})
}

// The same signed `customer.subscription.created` sent three times to each of
// the three nodes, all nine at once: every delivery is acknowledged, the event is
// applied once (the one fetch of the subscription from Stripe that applying it
// makes), and each node, whose cache held the free plan, now serves pro.
scenario!(
    one_event_delivered_to_every_node_at_once_takes_effect_once,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let _ = variant;
        let stripe = StripeStandIn::start(SECRET_KEY).await;
        let plans = devora_e2e::TempDir::new();
        let file = plans.path().join("plans.json");
        std::fs::write(&file, catalogue().to_string()).unwrap();
        let env = [
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_API_BASE", stripe.url.as_str()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("BILLING_PLANS_FILE", file.to_str().unwrap()),
        ];
        let mut options = ClusterOptions::new(3, &env);
        // The catalogue's project limits apply (the harness raises the free plan's otherwise).
        options.env.extend(owned(&[("FREE_PLAN_MAX_PROJECTS", "1")]));
        let cluster = Cluster::start(options).await;
        let nodes = cluster.endpoints();
        let token = nodes[0].new_user().await.access_token;
        for node in &nodes {
            let plan = node.get_json_as(&token, "/api/v2/billing/subscription").await;
            assert_eq!(plan["plan_id"], "free", "{plan}");
        }
        let res =
            nodes[1].post_as(&token, "/api/v2/billing/checkout", &json!({"plan_id": "pro", "interval": "month"})).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let session = stripe.checkout_sessions().last().unwrap().id.clone();
        let subscription = stripe.complete_checkout(&session);
        let event = StripeStandIn::event("customer.subscription.created", stripe.subscription(&subscription).unwrap());
        let (body, signature) = StripeStandIn::signed_event(WEBHOOK_SECRET, &event);
        let fetch = format!("/v1/subscriptions/{subscription}");
        let before = stripe.requests("GET", &fetch);

        let deliveries = (0..9).map(|i| {
            let node = &nodes[i % 3];
            node.client
                .post(node.url("/api/v2/billing/webhooks/stripe"))
                .header("stripe-signature", signature.clone())
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        let statuses: Vec<u16> = futures_util::future::join_all(deliveries)
            .await
            .into_iter()
            .map(|r| r.expect("delivered").status().as_u16())
            .collect();
        let fetches = stripe.requests("GET", &fetch) - before;
        say(&format!("cluster webhook: deliveries=9 statuses={statuses:?} applied(fetches)={fetches}"));
        assert!(statuses.iter().all(|s| *s == 200), "every delivery acknowledged: {statuses:?}");
        assert_eq!(fetches, 1, "one delivery applied the event; the others saw it recorded");
        for (i, node) in nodes.iter().enumerate() {
            let plan = node.get_json_as(&token, "/api/v2/billing/subscription").await;
            assert_eq!(
                (plan["plan_id"].as_str(), plan["status"].as_str()),
                (Some("pro"), Some("active")),
                "node {i}: {plan}"
            );
            // The pro plan's limit (5 projects) applies on every node.
            let res = node.post_as(&token, "/api/v2/projects", &json!({"name": format!("on node {i}")})).await;
            assert_eq!(res.status(), 201, "node {i}");
        }
    }
);
