//! The Stripe adapter against the Stripe stand-in, over real HTTP on loopback:
//! the stand-in checks the wire format (form encoding, bracket keys, the pinned
//! version, the bearer secret, an idempotency key on every POST), the tests check
//! what the adapter makes of Stripe's answers, failures and pages.

use std::time::Duration;

use devora_domain::{Email, SubscriptionStatus, UserId};
use devora_e2e::standins::{Fault, STRIPE_STANDIN_API_VERSION, StripeStandIn};
use devora_outbound::{OutboundConfig, OutboundHttp};
use devora_ports::{CheckoutRequest, GatewayError, PaymentGateway, WebhookVerifier};
use devora_stripe::{
    RetryPolicy, STRIPE_API_VERSION, StripeConfig, StripeGateway, StripeWebhookConfig, StripeWebhooks,
};

use crate::unique_email;

const SECRET_KEY: &str = "sk_test_devora_standin";
const PRICE: &str = "price_pro_monthly";

fn quick_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy { max_retries, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(4) }
}

fn gateway_at(url: &str, secret_key: &str, retry: RetryPolicy) -> StripeGateway {
    let http = OutboundHttp::new(OutboundConfig::default()).unwrap();
    StripeGateway::new(StripeConfig::new(secret_key).with_api_base(url).with_retry(retry), http)
}

async fn stripe() -> (StripeStandIn, StripeGateway) {
    let standin = StripeStandIn::start(SECRET_KEY).await;
    let gateway = gateway_at(&standin.url, SECRET_KEY, quick_retries(3));
    (standin, gateway)
}

fn email() -> Email {
    Email::parse(&unique_email()).unwrap()
}

fn checkout(customer: &str, user: UserId) -> CheckoutRequest {
    CheckoutRequest {
        customer: customer.to_owned(),
        price_id: PRICE.to_owned(),
        user_id: user,
        success_url: "https://app.devora.test/billing?session_id={CHECKOUT_SESSION_ID}&from=checkout".to_owned(),
        cancel_url: "https://app.devora.test/billing?canceled=1".to_owned(),
    }
}

/// A customer and a completed checkout: the user's active subscription.
async fn subscribed(standin: &StripeStandIn, gateway: &StripeGateway) -> (UserId, String, String) {
    let user = UserId::new();
    let customer = gateway.create_customer(user, &email()).await.unwrap();
    gateway.create_checkout(&checkout(&customer, user), &format!("checkout:{user}:1")).await.unwrap();
    let session = standin.checkout_sessions().pop().unwrap();
    let subscription = standin.complete_checkout(&session.id);
    (user, customer, subscription)
}

#[tokio::test]
async fn the_adapter_pins_the_api_version_the_standin_renders() {
    let (_standin, gateway) = stripe().await;
    assert_eq!(gateway.api_version(), STRIPE_API_VERSION);
    assert_eq!(STRIPE_API_VERSION, STRIPE_STANDIN_API_VERSION);
}

#[tokio::test]
async fn create_customer_posts_a_form_with_the_user_in_metadata_under_the_users_key() {
    let (standin, gateway) = stripe().await;
    let user = UserId::new();
    let email = Email::parse("first+billing@example.com").unwrap();
    let id = gateway.create_customer(user, &email).await.unwrap();
    assert!(id.starts_with("cus_"), "{id}");
    let customers = standin.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].id, id);
    assert_eq!(customers[0].email.as_deref(), Some("first+billing@example.com"), "the + survived the encoding");
    assert_eq!(customers[0].metadata.get("user_id"), Some(&user.to_string()));
    assert_eq!(standin.idempotency_keys(), [format!("customer:{user}")]);
}

#[tokio::test]
async fn create_customer_again_for_the_same_user_replays_the_first_customer() {
    let (standin, gateway) = stripe().await;
    let user = UserId::new();
    let email = email();
    let first = gateway.create_customer(user, &email).await.unwrap();
    let second = gateway.create_customer(user, &email).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(standin.customers().len(), 1);
    assert_eq!(standin.requests("POST", "/v1/customers"), 2);
}

#[tokio::test]
async fn concurrent_create_customer_calls_for_one_user_make_one_customer() {
    let (standin, gateway) = stripe().await;
    let user = UserId::new();
    let email = email();
    let ids = futures_util::future::join_all((0..8).map(|_| gateway.create_customer(user, &email))).await;
    let ids: Vec<String> = ids.into_iter().map(Result::unwrap).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(standin.customers().len(), 1);
    let other = gateway.create_customer(UserId::new(), &email).await.unwrap();
    assert_ne!(other, ids[0], "another user, another customer");
}

#[tokio::test]
async fn checkout_sends_every_field_in_stripes_bracket_syntax_and_answers_the_session_url() {
    let (standin, gateway) = stripe().await;
    let user = UserId::new();
    let customer = gateway.create_customer(user, &email()).await.unwrap();
    let request = checkout(&customer, user);
    let url = gateway.create_checkout(&request, "checkout:key-1").await.unwrap();
    let sessions = standin.checkout_sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(url, format!("{}/c/pay/{}", standin.url, session.id));
    assert_eq!(session.mode, "subscription");
    assert_eq!(session.customer.as_deref(), Some(customer.as_str()));
    assert_eq!(session.client_reference_id, Some(user.to_string()));
    assert_eq!(session.metadata.get("user_id"), Some(&user.to_string()));
    assert_eq!(session.subscription_metadata.get("user_id"), Some(&user.to_string()));
    assert_eq!((session.price.as_str(), session.quantity), (PRICE, 1));
    assert_eq!(session.success_url, request.success_url, "the URL with its {{placeholder}} and & round-trips");
    assert_eq!(session.cancel_url.as_deref(), Some(request.cancel_url.as_str()));
    assert_eq!(standin.idempotency_keys().last().map(String::as_str), Some("checkout:key-1"));
}

#[tokio::test]
async fn a_checkout_for_an_unknown_customer_is_refused_with_stripes_error_and_not_retried() {
    let (standin, gateway) = stripe().await;
    let err = gateway.create_checkout(&checkout("cus_missing", UserId::new()), "checkout:k").await.unwrap_err();
    match err {
        GatewayError::Refused { kind, code, message } => {
            assert_eq!(kind, "invalid_request_error");
            assert_eq!(code.as_deref(), Some("resource_missing"));
            assert!(message.contains("cus_missing"), "{message}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(standin.requests("POST", "/v1/checkout/sessions"), 1, "a 400 is final");
}

#[tokio::test]
async fn reusing_a_key_with_other_parameters_is_refused_as_an_idempotency_error() {
    let (_standin, gateway) = stripe().await;
    let user = UserId::new();
    let customer = gateway.create_customer(user, &email()).await.unwrap();
    let first = gateway.create_checkout(&checkout(&customer, user), "checkout:same").await.unwrap();
    let replay = gateway.create_checkout(&checkout(&customer, user), "checkout:same").await.unwrap();
    assert_eq!(first, replay, "same key, same body: the stored answer");
    let other = CheckoutRequest { price_id: "price_team_monthly".into(), ..checkout(&customer, user) };
    let err = gateway.create_checkout(&other, "checkout:same").await.unwrap_err();
    assert!(matches!(&err, GatewayError::Refused { kind, .. } if kind == "idempotency_error"), "{err:?}");
}

#[tokio::test]
async fn a_wrong_secret_key_is_unauthorized_at_once() {
    let standin = StripeStandIn::start(SECRET_KEY).await;
    let gateway = gateway_at(&standin.url, "sk_test_wrong", quick_retries(3));
    let err = gateway.create_customer(UserId::new(), &email()).await.unwrap_err();
    assert!(matches!(err, GatewayError::Unauthorized(_)), "{err:?}");
    assert_eq!(standin.requests("POST", "/v1/customers"), 1);
    assert!(standin.customers().is_empty());
}

#[tokio::test]
async fn a_portal_session_answers_its_url() {
    let (standin, gateway) = stripe().await;
    let customer = gateway.create_customer(UserId::new(), &email()).await.unwrap();
    let url = gateway.create_portal(&customer, "https://app.devora.test/billing", "portal:1").await.unwrap();
    assert!(url.starts_with(&format!("{}/p/session/bps_", standin.url)), "{url}");
    assert_eq!(standin.portal_sessions(), 1);
    let err = gateway.create_portal("cus_missing", "https://app.devora.test/billing", "portal:2").await.unwrap_err();
    assert!(matches!(&err, GatewayError::Refused { code: Some(c), .. } if c == "resource_missing"), "{err:?}");
}

#[tokio::test]
async fn a_subscription_is_read_with_its_period_from_its_items() {
    let (standin, gateway) = stripe().await;
    let (user, customer, id) = subscribed(&standin, &gateway).await;
    let wire = standin.subscription(&id).unwrap();
    assert!(wire.get("current_period_end").is_none(), "no top-level period in this API version");
    let item_period = wire["items"]["data"][0]["current_period_end"].as_i64().unwrap();

    let sub = gateway.subscription(&id).await.unwrap().unwrap();
    assert_eq!(sub.id, id);
    assert_eq!(sub.customer, customer);
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.price_id.as_deref(), Some(PRICE));
    assert_eq!(sub.user_id, Some(user), "subscription_data[metadata][user_id] reached the subscription");
    assert_eq!(sub.current_period_end.timestamp(), item_period);
    assert!(!sub.cancel_at_period_end);

    let end = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    standin.set_subscription(&id, "past_due", true, end);
    let sub = gateway.subscription(&id).await.unwrap().unwrap();
    assert_eq!(
        (sub.status, sub.cancel_at_period_end, sub.current_period_end),
        (SubscriptionStatus::PastDue, true, end)
    );
}

#[tokio::test]
async fn an_unknown_subscription_is_none() {
    let (standin, gateway) = stripe().await;
    assert_eq!(gateway.subscription("sub_missing").await.unwrap(), None);
    assert_eq!(standin.requests("GET", "/v1/subscriptions/"), 1, "a 404 is final");
    assert_eq!(gateway.subscription("../customers").await.unwrap(), None, "not a Stripe id: never sent");
    assert_eq!(standin.requests("GET", "/v1/"), 1);
}

#[tokio::test]
async fn cancel_and_resume_set_cancel_at_period_end() {
    let (standin, gateway) = stripe().await;
    let (_user, _customer, id) = subscribed(&standin, &gateway).await;
    let canceled = gateway.set_cancel_at_period_end(&id, true, "cancel:1").await.unwrap();
    assert!(canceled.cancel_at_period_end);
    assert_eq!(standin.subscription(&id).unwrap()["cancel_at_period_end"], true);
    let resumed = gateway.set_cancel_at_period_end(&id, false, "resume:1").await.unwrap();
    assert!(!resumed.cancel_at_period_end);
    assert_eq!(standin.subscription(&id).unwrap()["cancel_at_period_end"], false);
    assert_eq!(standin.idempotency_keys()[standin.idempotency_keys().len() - 2..], ["cancel:1", "resume:1"]);
    let err = gateway.set_cancel_at_period_end("sub_missing", true, "cancel:2").await.unwrap_err();
    assert_eq!(err, GatewayError::NotFound);
}

#[tokio::test]
async fn subscription_lists_follow_every_page_whatever_the_status() {
    let (standin, gateway) = stripe().await;
    let user = UserId::new().to_string();
    let mut mine: Vec<String> = (0..230).map(|_| standin.add_subscription("cus_many", PRICE, Some(&user))).collect();
    let canceled = mine[7].clone();
    standin.set_subscription(&canceled, "canceled", false, chrono::Utc::now());
    for _ in 0..5 {
        standin.add_subscription("cus_other", PRICE, None);
    }

    let listed = gateway.customer_subscriptions("cus_many").await.unwrap();
    assert_eq!(standin.requests("GET", "/v1/subscriptions"), 3, "pages of 100, 100 and 30");
    let mut ids: Vec<String> = listed.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    mine.sort();
    assert_eq!(ids, mine, "every subscription once, the canceled one included");
    assert!(listed.iter().any(|s| s.id == canceled && s.status == SubscriptionStatus::Canceled));

    let all = gateway.all_subscriptions().await.unwrap();
    assert_eq!(all.len(), 235);
    assert_eq!(standin.requests("GET", "/v1/subscriptions"), 6);
}

#[tokio::test]
async fn invoices_come_one_page_at_a_time_newest_first() {
    let (standin, gateway) = stripe().await;
    let ids: Vec<String> = (1..=5).map(|n| standin.add_invoice("cus_inv", Some("sub_x"), n * 1000, "paid")).collect();
    standin.add_invoice("cus_else", None, 1, "open");

    let first = gateway.invoices("cus_inv", 2, None).await.unwrap();
    assert!(first.has_more);
    assert_eq!(first.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [ids[4].as_str(), ids[3].as_str()]);
    let newest = &first.items[0];
    assert_eq!((newest.amount_due, newest.amount_paid, newest.currency.as_str()), (5000, 5000, "usd"));
    assert_eq!(newest.status, "paid");
    assert_eq!(newest.number.as_deref(), Some("STANDIN-0005"));
    assert!(newest.hosted_invoice_url.as_deref().is_some_and(|u| u.ends_with(&ids[4])));
    assert!(newest.invoice_pdf.is_some());

    let second = gateway.invoices("cus_inv", 2, Some(&first.items[1].id)).await.unwrap();
    assert_eq!(second.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [ids[2].as_str(), ids[1].as_str()]);
    let last = gateway.invoices("cus_inv", 2, Some(&second.items[1].id)).await.unwrap();
    assert_eq!((last.items.len(), last.has_more), (1, false));
    assert_eq!(standin.requests("GET", "/v1/invoices"), 3, "one request per page, no auto-pagination");
}

#[tokio::test]
async fn webhook_endpoints_are_listed_with_their_api_version() {
    let (standin, gateway) = stripe().await;
    let pinned =
        standin.add_webhook_endpoint("https://api.devora.test/api/v2/billing/webhook", Some(STRIPE_API_VERSION));
    let default = standin.add_webhook_endpoint("https://old.devora.test/hook", None);
    let endpoints = gateway.webhook_endpoints().await.unwrap();
    assert_eq!(endpoints.len(), 2);
    let find = |id: &str| endpoints.iter().find(|e| e.id == id).unwrap();
    assert_eq!(find(&pinned).api_version.as_deref(), Some(STRIPE_API_VERSION));
    assert_eq!(find(&pinned).url, "https://api.devora.test/api/v2/billing/webhook");
    assert_eq!(find(&default).api_version, None);
}

/// Retries `fault` twice on a `create_customer`: the third try succeeds, and
/// every try carried the same key.
async fn create_customer_survives(fault: Fault) {
    let (standin, gateway) = stripe().await;
    standin.fail_next(2, fault);
    let user = UserId::new();
    let id = gateway.create_customer(user, &email()).await.unwrap();
    assert_eq!(standin.requests("POST", "/v1/customers"), 3, "{fault:?}");
    assert_eq!(standin.idempotency_keys(), vec![format!("customer:{user}"); 3], "{fault:?}");
    assert_eq!(standin.customers().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
}

#[tokio::test]
async fn rate_limited_posts_are_retried_with_the_same_idempotency_key() {
    create_customer_survives(Fault::TooManyRequests).await;
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_idempotency_key() {
    create_customer_survives(Fault::ServerError).await;
}

#[tokio::test]
async fn a_dropped_connection_is_retried_with_the_same_idempotency_key() {
    create_customer_survives(Fault::DropConnection).await;
}

#[tokio::test]
async fn stripe_should_retry_true_retries_even_a_400() {
    create_customer_survives(Fault::ShouldRetryTrue).await;
}

#[tokio::test]
async fn gets_are_retried_too() {
    let (standin, gateway) = stripe().await;
    let (_user, _customer, id) = subscribed(&standin, &gateway).await;
    standin.fail_next(1, Fault::ServerError);
    standin.fail_next(1, Fault::DropConnection);
    assert!(gateway.subscription(&id).await.unwrap().is_some());
    assert_eq!(standin.requests("GET", "/v1/subscriptions/"), 3);
}

#[tokio::test]
async fn stripe_should_retry_false_stops_at_once() {
    let (standin, gateway) = stripe().await;
    standin.fail_next(1, Fault::ShouldRetryFalse);
    let err = gateway.create_customer(UserId::new(), &email()).await.unwrap_err();
    assert!(matches!(err, GatewayError::Unavailable(_)), "{err:?}");
    assert_eq!(standin.requests("POST", "/v1/customers"), 1);
    assert!(standin.customers().is_empty());
}

#[tokio::test]
async fn retries_give_up_after_max_retries_as_unavailable() {
    let (standin, gateway) = stripe().await;
    standin.fail_next(10, Fault::ServerError);
    let user = UserId::new();
    let err = gateway.create_customer(user, &email()).await.unwrap_err();
    assert!(matches!(err, GatewayError::Unavailable(_)), "{err:?}");
    assert_eq!(standin.requests("POST", "/v1/customers"), 4, "the first try and 3 retries");
    assert_eq!(standin.idempotency_keys(), vec![format!("customer:{user}"); 4]);

    let patient = gateway_at(&standin.url, SECRET_KEY, quick_retries(6));
    let id = patient.create_customer(user, &email()).await.unwrap();
    assert_eq!(standin.requests("POST", "/v1/customers"), 11, "6 more faults, then through");
    assert_eq!(standin.customers()[0].id, id);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable_after_the_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gateway = gateway_at(&url, SECRET_KEY, quick_retries(2));
    let err = gateway.all_subscriptions().await.unwrap_err();
    assert!(matches!(err, GatewayError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn events_signed_like_stripe_verify_and_name_the_checkout() {
    let (standin, gateway) = stripe().await;
    let (user, customer, subscription) = subscribed(&standin, &gateway).await;
    let session = standin.checkout_sessions().pop().unwrap();
    let object = standin.checkout_session_object(&session.id).unwrap();
    let event = StripeStandIn::event("checkout.session.completed", object);
    let hooks = StripeWebhooks::new(StripeWebhookConfig::new(vec!["whsec_old".into(), "whsec_new".into()]));

    let (body, signature) = StripeStandIn::signed_event("whsec_new", &event);
    let verified = hooks.verify(&signature, &body, chrono::Utc::now()).unwrap();
    assert_eq!(verified.id, event["id"].as_str().unwrap());
    assert_eq!(verified.kind, "checkout.session.completed");
    assert_eq!(verified.customer.as_deref(), Some(customer.as_str()));
    assert_eq!(verified.subscription.as_deref(), Some(subscription.as_str()));
    assert_eq!(verified.client_reference_id, Some(user.to_string()));

    let (body, signature) = StripeStandIn::signed_event("whsec_other", &event);
    assert!(hooks.verify(&signature, &body, chrono::Utc::now()).is_err());
    let stale = chrono::Utc::now().timestamp() - 301;
    let (body, signature) = StripeStandIn::signed_event_at("whsec_old", &event, stale);
    assert!(hooks.verify(&signature, &body, chrono::Utc::now()).is_err());
}

#[tokio::test]
async fn invoice_and_subscription_events_name_their_subscription() {
    let (standin, gateway) = stripe().await;
    let (_user, customer, subscription) = subscribed(&standin, &gateway).await;
    let hooks = StripeWebhooks::new(StripeWebhookConfig::new(vec!["whsec_1".into()]));
    let invoice_id = standin.add_invoice(&customer, Some(&subscription), 1200, "open");
    let invoice = gateway.invoices(&customer, 1, None).await.unwrap().items.remove(0);
    assert_eq!(invoice.id, invoice_id);
    for (kind, object) in [
        ("customer.subscription.updated", standin.subscription(&subscription).unwrap()),
        (
            "invoice.payment_failed",
            serde_json::json!({ "id": invoice_id, "object": "invoice", "customer": customer,
                "parent": { "type": "subscription_details", "subscription_details": { "subscription": subscription } } }),
        ),
    ] {
        let (body, signature) = StripeStandIn::signed_event("whsec_1", &StripeStandIn::event(kind, object));
        let event = hooks.verify(&signature, &body, chrono::Utc::now()).unwrap();
        assert_eq!(event.subscription.as_deref(), Some(subscription.as_str()), "{kind}");
        assert_eq!(event.customer.as_deref(), Some(customer.as_str()), "{kind}");
    }
}

#[test]
fn the_standins_hmac_is_rfc_4231s() {
    // RFC 4231, test cases 2 and 6 (a key longer than the block).
    assert_eq!(
        StripeStandIn::hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        StripeStandIn::hmac_sha256_hex(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First"),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

/// The checks the adapter tests lean on bite: a sloppy client is refused.
#[tokio::test]
async fn the_standin_refuses_what_a_careless_client_sends() {
    let standin = StripeStandIn::start(SECRET_KEY).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str, key: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/v1/customers", standin.url))
            .bearer_auth(SECRET_KEY)
            .header("stripe-version", STRIPE_STANDIN_API_VERSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    let refusal = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        (status, body["error"]["type"].as_str().unwrap_or_default().to_owned(), body["error"]["code"].clone())
    };

    let no_key = refusal(post("email=a%40b.example", None).await.unwrap()).await;
    assert_eq!((no_key.0, no_key.1.as_str()), (400, "invalid_request_error"), "a POST without a key");
    let raw = refusal(post("email=a@b.example&metadata[note]=two words", Some("k1")).await.unwrap()).await;
    assert_eq!(raw.0, 400, "unescaped @ and space");
    let unknown = refusal(post("email=a%40b.example&metadata_user_id=x", Some("k2")).await.unwrap()).await;
    assert_eq!((unknown.0, unknown.2.as_str()), (400, Some("parameter_unknown")));
    let bad_key = refusal(post("metadata[user_id=x", Some("k3")).await.unwrap()).await;
    assert_eq!(bad_key.0, 400, "a broken bracket key");

    let json = client
        .post(format!("{}/v1/customers", standin.url))
        .bearer_auth(SECRET_KEY)
        .header("stripe-version", STRIPE_STANDIN_API_VERSION)
        .header("idempotency-key", "k4")
        .json(&serde_json::json!({ "email": "a@b.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400, "a JSON body");
    let unpinned = client
        .get(format!("{}/v1/subscriptions", standin.url))
        .bearer_auth(SECRET_KEY)
        .header("stripe-version", "2024-06-20")
        .send()
        .await
        .unwrap();
    assert_eq!(unpinned.status(), 400, "another API version");
    assert!(standin.customers().is_empty());

    let first = post("email=a%40b.example&metadata[user_id]=u1", Some("k5")).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    let again = post("email=a%40b.example&metadata[user_id]=u1", Some("k5")).await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["id"], first["id"]);
    let changed = refusal(post("email=c%40d.example&metadata[user_id]=u1", Some("k5")).await.unwrap()).await;
    assert_eq!((changed.0, changed.1.as_str()), (400, "idempotency_error"));
    assert_eq!(standin.customers().len(), 1);
}
