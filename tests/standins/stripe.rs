//! Stripe: the slice of the API Devora calls, on one base URL, in Stripe's wire
//! format: form-encoded requests with bracket keys, JSON objects with `object`
//! and prefixed ids, `{"object": "list", "data", "has_more"}` lists, and
//! `{"error": {"type", "code", "message", "param"}}` errors.
//!
//! It checks what a real account would (the bearer secret, known parameters,
//! referenced objects) and what Devora promises on top (a pinned `Stripe-Version`,
//! an `Idempotency-Key` on every POST), keeps state, and fails on demand.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{StandInServer, unix_now};

/// The API version whose wire format the stand-in renders (a subscription's period
/// only on its items, an invoice's subscription under `parent`), and the only
/// `Stripe-Version` it accepts.
pub const STRIPE_STANDIN_API_VERSION: &str = "2026-09-30.endive";

/// How the next requests fail, before any check or effect (so a retried POST is
/// still executed once, when the fault has passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `rate_limit`.
    TooManyRequests,
    /// 500 `api_error`, no `Stripe-Should-Retry`.
    ServerError,
    /// The answer's headers, then the connection is cut mid-body.
    DropConnection,
    /// 500 with `Stripe-Should-Retry: false`.
    ShouldRetryFalse,
    /// 400 with `Stripe-Should-Retry: true` (Stripe's advice beats the status).
    ShouldRetryTrue,
}

/// A customer as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStripeCustomer {
    pub id: String,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A Checkout session as the stand-in holds it (decoded from the form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCheckoutSession {
    pub id: String,
    pub mode: String,
    pub customer: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `subscription_data[metadata]`: copied onto the subscription at completion.
    pub subscription_metadata: BTreeMap<String, String>,
    pub price: String,
    pub quantity: u64,
    pub success_url: String,
    pub cancel_url: Option<String>,
    /// Set by [`StripeStandIn::complete_checkout`].
    pub subscription: Option<String>,
}

#[derive(Debug, Clone)]
struct FakeSubscription {
    id: String,
    item_id: String,
    customer: String,
    price: String,
    status: String,
    cancel_at_period_end: bool,
    current_period_start: i64,
    current_period_end: i64,
    metadata: BTreeMap<String, String>,
    created: i64,
}

#[derive(Debug, Clone)]
struct FakeInvoice {
    id: String,
    customer: String,
    subscription: Option<String>,
    number: String,
    amount_due: i64,
    amount_paid: i64,
    status: String,
    created: i64,
}

/// A POST's outcome, kept under its idempotency key.
struct StoredReply {
    method: String,
    path: String,
    params: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct StripeState {
    url: String,
    secret_key: String,
    faults: VecDeque<Fault>,
    /// (method, path) of every request, faulted ones included.
    requests: Vec<(String, String)>,
    /// The `Idempotency-Key` of every POST, in arrival order, retries included.
    idempotency_keys: Vec<String>,
    replies: HashMap<String, StoredReply>,
    // Held in creation order; lists answer newest first, as Stripe's do.
    customers: Vec<FakeStripeCustomer>,
    sessions: Vec<FakeCheckoutSession>,
    portal_sessions: usize,
    subscriptions: Vec<FakeSubscription>,
    invoices: Vec<FakeInvoice>,
    webhook_endpoints: Vec<Value>,
}

/// A Stripe error answer.
struct StripeError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl StripeError {
    fn invalid(code: Option<&'static str>, message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    /// A referenced object that does not exist: 404 for the object of the path,
    /// 400 when a parameter names it.
    fn no_such(what: &str, id: &str, param: &str, status: StatusCode) -> Self {
        Self {
            status,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            message: format!("No such {what}: '{id}'"),
            param: Some(param.to_owned()),
        }
    }

    fn missing(param: &str) -> Self {
        Self::invalid(Some("parameter_missing"), format!("Missing required param: {param}."), Some(param))
    }

    fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!("https://docs.stripe.com/error-codes/{}", code.replace('_', "-")));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

type Answer = Result<Value, StripeError>;

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
}

/// HMAC-SHA256 (RFC 2104) written out over `sha2`, so the stand-in signs
/// independently of the `hmac` crate the adapter verifies with.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `a[b][c]` into `["a", "b", "c"]`; `None` when it is not a bracket key.
fn key_segments(key: &str) -> Option<Vec<&str>> {
    let head_end = key.find('[').unwrap_or(key.len());
    let (head, mut rest) = key.split_at(head_end);
    if head.is_empty() || !head.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    let mut segments = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let segment = &inner[..end];
        if segment.is_empty() || segment.contains('[') {
            return None;
        }
        segments.push(segment);
        rest = &inner[end + 1..];
    }
    Some(segments)
}

/// Whether `key` fits `pattern`, whose segments are literal, `*` (any) or `#` (an index).
fn key_fits(key: &[&str], pattern: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    key.len() == pattern.len()
        && key.iter().zip(&pattern).all(|(k, p)| match *p {
            "*" => true,
            "#" => k.bytes().all(|b| b.is_ascii_digit()),
            literal => *k == literal,
        })
}

/// Decodes a form body or query string, refusing what a correct encoder never
/// sends: a byte outside the unreserved set, `%XX`, `+`, `=`, `&` and brackets;
/// a key that is not Stripe's bracket syntax; a key given twice.
fn parse_form(raw: &[u8]) -> Result<Vec<(String, String)>, StripeError> {
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' | b'~' | b'+' | b'=' | b'&' => {}
            b'[' | b']' => {}
            b'%' if raw.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => i += 2,
            other => {
                return Err(StripeError::invalid(
                    None,
                    format!("Invalid form encoding: unescaped byte 0x{other:02x} at {i}"),
                    None,
                ));
            }
        }
        i += 1;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw) {
        if key_segments(&key).is_none() {
            return Err(StripeError::invalid(None, format!("Invalid parameter name: {key}"), Some(&key)));
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(StripeError::invalid(None, format!("Parameter given twice: {key}"), Some(&key)));
        }
        pairs.push((key.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn required(&self, key: &str) -> Result<&'a str, StripeError> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| StripeError::missing(key))
    }

    /// Refuses any parameter the endpoint does not know, as Stripe does.
    fn only(&self, patterns: &[&str]) -> Result<(), StripeError> {
        for (key, _) in self.0 {
            let segments = key_segments(key).unwrap_or_default();
            if !patterns.iter().any(|p| key_fits(&segments, p)) {
                return Err(StripeError::invalid(
                    Some("parameter_unknown"),
                    format!("Received unknown parameter: {key}"),
                    Some(key),
                ));
            }
        }
        Ok(())
    }

    /// The `*` entries under `prefix` (`metadata`, `subscription_data[metadata]`).
    fn map(&self, prefix: &[&str]) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let segments = key_segments(k)?;
                (segments.len() == prefix.len() + 1 && segments[..prefix.len()] == *prefix)
                    .then(|| (segments[prefix.len()].to_owned(), v.clone()))
            })
            .collect()
    }

    fn limit(&self) -> Result<usize, StripeError> {
        match self.get("limit") {
            None => Ok(10),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n @ 1..=100) => Ok(n),
                Ok(_) => Err(StripeError::invalid(
                    Some("parameter_invalid_integer"),
                    "This value must be between 1 and 100.",
                    Some("limit"),
                )),
                Err(_) => Err(StripeError::invalid(
                    Some("parameter_invalid_integer"),
                    format!("Invalid integer: {raw}"),
                    Some("limit"),
                )),
            },
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, StripeError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(StripeError::invalid(
                Some("parameter_invalid_boolean"),
                format!("Invalid boolean: {other}"),
                Some(key),
            )),
        }
    }

    fn url(&self, key: &str) -> Result<Option<&'a str>, StripeError> {
        match self.get(key) {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                Err(StripeError::invalid(Some("url_invalid"), "Not a valid URL", Some(key)))
            }
            other => Ok(other),
        }
    }
}

/// One page of `items` (newest first) after `starting_after`, `limit` long.
fn page(path: &str, items: Vec<Value>, params: &Params) -> Answer {
    let limit = params.limit()?;
    let start = match params.get("starting_after") {
        None => 0,
        Some(after) => match items.iter().position(|item| item["id"] == after) {
            Some(at) => at + 1,
            None => return Err(StripeError::no_such("object", after, "starting_after", StatusCode::BAD_REQUEST)),
        },
    };
    let has_more = items.len() > start + limit;
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    Ok(json!({ "object": "list", "url": path, "has_more": has_more, "data": data }))
}

impl StripeState {
    fn subscription_json(&self, sub: &FakeSubscription) -> Value {
        json!({
            "id": sub.id,
            "object": "subscription",
            "customer": sub.customer,
            "status": sub.status,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "cancel_at": if sub.cancel_at_period_end { json!(sub.current_period_end) } else { Value::Null },
            "canceled_at": Value::Null,
            "collection_method": "charge_automatically",
            "created": sub.created,
            "start_date": sub.created,
            "currency": "usd",
            "livemode": false,
            "metadata": sub.metadata,
            // No top-level period since 2025-03-31.basil: it is on the items.
            "items": {
                "object": "list",
                "url": format!("/v1/subscription_items?subscription={}", sub.id),
                "has_more": false,
                "total_count": 1,
                "data": [{
                    "id": sub.item_id,
                    "object": "subscription_item",
                    "subscription": sub.id,
                    "quantity": 1,
                    "created": sub.created,
                    "current_period_start": sub.current_period_start,
                    "current_period_end": sub.current_period_end,
                    "metadata": {},
                    "price": {
                        "id": sub.price,
                        "object": "price",
                        "active": true,
                        "currency": "usd",
                        "type": "recurring",
                        "recurring": { "interval": "month", "interval_count": 1 }
                    }
                }]
            }
        })
    }

    fn invoice_json(&self, invoice: &FakeInvoice) -> Value {
        let parent = invoice.subscription.as_ref().map_or(Value::Null, |sub| {
            json!({ "type": "subscription_details", "quote_details": null,
                    "subscription_details": { "subscription": sub, "metadata": {} } })
        });
        json!({
            "id": invoice.id,
            "object": "invoice",
            "customer": invoice.customer,
            "number": invoice.number,
            "amount_due": invoice.amount_due,
            "amount_paid": invoice.amount_paid,
            "amount_remaining": invoice.amount_due - invoice.amount_paid,
            "currency": "usd",
            "status": invoice.status,
            "created": invoice.created,
            "livemode": false,
            "parent": parent,
            "hosted_invoice_url": format!("{}/i/{}", self.url, invoice.id),
            "invoice_pdf": format!("{}/i/{}/pdf", self.url, invoice.id),
        })
    }

    fn customer_json(customer: &FakeStripeCustomer) -> Value {
        json!({ "id": customer.id, "object": "customer", "email": customer.email, "metadata": customer.metadata,
                "name": null, "description": null, "created": unix_now(), "livemode": false })
    }

    fn session_json(&self, session: &FakeCheckoutSession) -> Value {
        let complete = session.subscription.is_some();
        json!({
            "id": session.id,
            "object": "checkout.session",
            "mode": session.mode,
            "customer": session.customer,
            "client_reference_id": session.client_reference_id,
            "metadata": session.metadata,
            "success_url": session.success_url,
            "cancel_url": session.cancel_url,
            "status": if complete { "complete" } else { "open" },
            "payment_status": if complete { "paid" } else { "unpaid" },
            "subscription": session.subscription,
            "url": if complete { Value::Null } else { json!(format!("{}/c/pay/{}", self.url, session.id)) },
            "livemode": false,
        })
    }

    fn customer_exists(&self, id: &str) -> bool {
        self.customers.iter().any(|c| c.id == id)
    }

    fn route(&mut self, method: &str, path: &str, params: &Params) -> Answer {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("POST", ["v1", "customers"]) => self.create_customer(params),
            ("POST", ["v1", "checkout", "sessions"]) => self.create_checkout(params),
            ("POST", ["v1", "billing_portal", "sessions"]) => self.create_portal(params),
            ("GET", ["v1", "subscriptions"]) => self.list_subscriptions(params),
            ("GET", ["v1", "subscriptions", id]) => {
                params.only(&["expand.#"])?;
                let sub = self.subscription(id)?;
                Ok(self.subscription_json(sub))
            }
            ("POST", ["v1", "subscriptions", id]) => self.update_subscription(id, params),
            ("GET", ["v1", "invoices"]) => {
                params.only(&["customer", "subscription", "status", "limit", "starting_after"])?;
                let customer = params.get("customer");
                let items = self
                    .invoices
                    .iter()
                    .rev()
                    .filter(|i| customer.is_none_or(|c| i.customer == c))
                    .map(|i| self.invoice_json(i))
                    .collect();
                page(path, items, params)
            }
            ("GET", ["v1", "webhook_endpoints"]) => {
                params.only(&["limit", "starting_after"])?;
                page(path, self.webhook_endpoints.iter().rev().cloned().collect(), params)
            }
            _ => Err(StripeError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                code: None,
                message: format!("Unrecognized request URL ({method}: {path})."),
                param: None,
            }),
        }
    }

    fn subscription(&self, id: &str) -> Result<&FakeSubscription, StripeError> {
        self.subscriptions
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| StripeError::no_such("subscription", id, "id", StatusCode::NOT_FOUND))
    }

    fn create_customer(&mut self, params: &Params) -> Answer {
        params.only(&["email", "name", "metadata.*"])?;
        let email = params.get("email");
        if email.is_some_and(|e| !e.contains('@')) {
            return Err(StripeError::invalid(
                Some("email_invalid"),
                format!("Invalid email address: {}", email.unwrap_or_default()),
                Some("email"),
            ));
        }
        let customer = FakeStripeCustomer {
            id: new_id("cus"),
            email: email.map(str::to_owned),
            metadata: params.map(&["metadata"]),
        };
        let body = Self::customer_json(&customer);
        self.customers.push(customer);
        Ok(body)
    }

    fn create_checkout(&mut self, params: &Params) -> Answer {
        params.only(&[
            "mode",
            "customer",
            "client_reference_id",
            "metadata.*",
            "subscription_data.metadata.*",
            "line_items.#.price",
            "line_items.#.quantity",
            "success_url",
            "cancel_url",
        ])?;
        let mode = params.required("mode")?;
        if mode != "subscription" && mode != "payment" && mode != "setup" {
            return Err(StripeError::invalid(
                Some("parameter_invalid_string"),
                format!("Invalid mode: {mode}"),
                Some("mode"),
            ));
        }
        let customer = params.get("customer");
        if let Some(id) = customer.filter(|id| !self.customer_exists(id)) {
            return Err(StripeError::no_such("customer", id, "customer", StatusCode::BAD_REQUEST));
        }
        let price = params.required("line_items[0][price]")?;
        if !price.starts_with("price_") {
            return Err(StripeError::no_such("price", price, "line_items[0][price]", StatusCode::BAD_REQUEST));
        }
        let quantity = params.required("line_items[0][quantity]")?;
        let quantity = quantity.parse::<u64>().ok().filter(|q| *q >= 1).ok_or_else(|| {
            StripeError::invalid(
                Some("parameter_invalid_integer"),
                format!("Invalid integer: {quantity}"),
                Some("line_items[0][quantity]"),
            )
        })?;
        let success_url = params.url("success_url")?.ok_or_else(|| StripeError::missing("success_url"))?;
        let session = FakeCheckoutSession {
            id: new_id("cs_test"),
            mode: mode.to_owned(),
            customer: customer.map(str::to_owned),
            client_reference_id: params.get("client_reference_id").map(str::to_owned),
            metadata: params.map(&["metadata"]),
            subscription_metadata: params.map(&["subscription_data", "metadata"]),
            price: price.to_owned(),
            quantity,
            success_url: success_url.to_owned(),
            cancel_url: params.url("cancel_url")?.map(str::to_owned),
            subscription: None,
        };
        let body = self.session_json(&session);
        self.sessions.push(session);
        Ok(body)
    }

    fn create_portal(&mut self, params: &Params) -> Answer {
        params.only(&["customer", "return_url"])?;
        let customer = params.required("customer")?;
        if !self.customer_exists(customer) {
            return Err(StripeError::no_such("customer", customer, "customer", StatusCode::BAD_REQUEST));
        }
        let return_url = params.url("return_url")?;
        self.portal_sessions += 1;
        let id = new_id("bps");
        Ok(json!({ "id": id, "object": "billing_portal.session", "customer": customer, "return_url": return_url,
                   "url": format!("{}/p/session/{id}", self.url), "configuration": "bpc_standin",
                   "created": unix_now(), "livemode": false }))
    }

    fn list_subscriptions(&self, params: &Params) -> Answer {
        params.only(&["customer", "price", "status", "limit", "starting_after"])?;
        let customer = params.get("customer");
        let status = params.get("status");
        const STATUSES: &[&str] = &[
            "active",
            "trialing",
            "past_due",
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
            "ended",
            "all",
        ];
        if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
            return Err(StripeError::invalid(
                Some("parameter_invalid_string"),
                format!("Invalid status: {s}"),
                Some("status"),
            ));
        }
        let wanted = |sub: &FakeSubscription| match status {
            // Without a status, Stripe leaves canceled subscriptions out.
            None => sub.status != "canceled",
            Some("all") => true,
            Some("ended") => sub.status == "canceled" || sub.status == "incomplete_expired",
            Some(s) => sub.status == s,
        };
        let items = self
            .subscriptions
            .iter()
            .rev()
            .filter(|s| customer.is_none_or(|c| s.customer == c) && wanted(s))
            .filter(|s| params.get("price").is_none_or(|p| s.price == p))
            .map(|s| self.subscription_json(s))
            .collect();
        page("/v1/subscriptions", items, params)
    }

    fn update_subscription(&mut self, id: &str, params: &Params) -> Answer {
        params.only(&["cancel_at_period_end", "metadata.*"])?;
        self.subscription(id)?;
        let cancel = params.boolean("cancel_at_period_end")?;
        let metadata = params.map(&["metadata"]);
        let Some(sub) = self.subscriptions.iter_mut().find(|s| s.id == id) else {
            return Err(StripeError::no_such("subscription", id, "id", StatusCode::NOT_FOUND));
        };
        if sub.status == "canceled" && cancel.is_some() {
            return Err(StripeError::invalid(
                None,
                "A canceled subscription can only update its cancellation_details and metadata.",
                None,
            ));
        }
        if let Some(cancel) = cancel {
            sub.cancel_at_period_end = cancel;
        }
        sub.metadata.extend(metadata);
        let sub = sub.clone();
        Ok(self.subscription_json(&sub))
    }
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).insert_header(("request-id", new_id("req"))).json(body)
}

fn fault_response(fault: Fault) -> HttpResponse {
    let error = |status: StatusCode, kind: &str, code: Option<&str>, message: &str| {
        let mut body = json!({ "error": { "type": kind, "message": message } });
        if let Some(code) = code {
            body["error"]["code"] = json!(code);
        }
        (status, body)
    };
    let (status, body, should_retry) = match fault {
        Fault::TooManyRequests => {
            let (s, b) = error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                "Request rate limit exceeded. Learn more about rate limits here https://docs.stripe.com/rate-limits.",
            );
            (s, b, None)
        }
        Fault::ServerError => {
            let (s, b) = error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, "An unknown error occurred");
            (s, b, None)
        }
        Fault::ShouldRetryFalse => {
            let (s, b) = error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, "An unknown error occurred");
            (s, b, Some("false"))
        }
        Fault::ShouldRetryTrue => {
            let (s, b) = error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("lock_timeout"),
                "This object cannot be accessed right now because another API request or Stripe process is accessing it.",
            );
            (s, b, Some("true"))
        }
        Fault::DropConnection => {
            let cut = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "stand-in cut the connection",
                ))
            });
            return HttpResponse::Ok().content_type("application/json").streaming(cut);
        }
    };
    let mut response = json_response(status, &body);
    if let Some(value) = should_retry {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("stripe-should-retry"),
            actix_web::http::header::HeaderValue::from_static(value),
        );
    }
    response
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<StripeState>>) -> HttpResponse {
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let mut st = state.lock().unwrap();
    st.requests.push((method.clone(), path.clone()));
    let key = header(&req, "idempotency-key").map(str::to_owned);
    if let (true, Some(key)) = (method == "POST", &key) {
        st.idempotency_keys.push(key.clone());
    }
    if let Some(fault) = st.faults.pop_front() {
        return fault_response(fault);
    }
    let fail = |e: StripeError| json_response(e.status, &e.body());
    if header(&req, "authorization") != Some(format!("Bearer {}", st.secret_key).as_str()) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": { "type": "invalid_request_error",
                "message": "Invalid API Key provided. You can find your API keys at https://dashboard.stripe.com/apikeys." } }),
        );
    }
    match header(&req, "stripe-version") {
        Some(STRIPE_STANDIN_API_VERSION) => {}
        other => {
            return fail(StripeError::invalid(
                None,
                format!(
                    "Invalid Stripe API version: {} (this stand-in speaks only {STRIPE_STANDIN_API_VERSION})",
                    other.unwrap_or("none")
                ),
                None,
            ));
        }
    }
    let raw: &[u8] = if method == "POST" {
        let form_type = header(&req, "content-type")
            .is_some_and(|t| t.split(';').next().is_some_and(|t| t.trim() == "application/x-www-form-urlencoded"));
        if !form_type {
            return fail(StripeError::invalid(
                None,
                format!(
                    "Invalid request: the body must be application/x-www-form-urlencoded, not {}",
                    header(&req, "content-type").unwrap_or("absent")
                ),
                None,
            ));
        }
        &body
    } else {
        req.query_string().as_bytes()
    };
    let params = match parse_form(raw) {
        Ok(params) => params,
        Err(e) => return fail(e),
    };
    if method != "POST" {
        return match st.route(&method, &path, &Params(&params)) {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(e) => fail(e),
        };
    }
    let Some(key) = key else {
        return fail(StripeError::invalid(None, "This stand-in requires an Idempotency-Key on every POST.", None));
    };
    if let Some(stored) = st.replies.get(&key) {
        if stored.method == method && stored.path == path && stored.params == params {
            let mut response = json_response(stored.status, &stored.body);
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
                actix_web::http::header::HeaderValue::from_static("true"),
            );
            return response;
        }
        return fail(StripeError {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            message: format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            ),
            param: None,
        });
    }
    let (status, body) = match st.route(&method, &path, &Params(&params)) {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (e.status, e.body()),
    };
    st.replies.insert(key, StoredReply { method, path, params, status, body: body.clone() });
    json_response(status, &body)
}

/// A local Stripe API.
pub struct StripeStandIn {
    pub url: String,
    /// The secret key it accepts (`Authorization: Bearer ...`).
    pub secret_key: String,
    state: Arc<Mutex<StripeState>>,
    _server: StandInServer,
}

impl StripeStandIn {
    pub async fn start(secret_key: &str) -> Self {
        let state = Arc::new(Mutex::new(StripeState { secret_key: secret_key.to_owned(), ..StripeState::default() }));
        let data = web::Data::from(state.clone());
        let server = StandInServer::start(move |cfg| {
            cfg.app_data(data.clone()).route("/{tail:.*}", web::to(handle));
        });
        state.lock().unwrap().url.clone_from(&server.url);
        Self { url: server.url.clone(), secret_key: secret_key.to_owned(), state, _server: server }
    }

    /// The next `n` requests fail with `fault`, whatever they are.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.state.lock().unwrap().faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Requests seen with `method` whose path starts with `path_prefix`, faulted ones included.
    pub fn requests(&self, method: &str, path_prefix: &str) -> usize {
        self.state.lock().unwrap().requests.iter().filter(|(m, p)| m == method && p.starts_with(path_prefix)).count()
    }

    /// The `Idempotency-Key` of every POST, in arrival order, retries included.
    pub fn idempotency_keys(&self) -> Vec<String> {
        self.state.lock().unwrap().idempotency_keys.clone()
    }

    pub fn customers(&self) -> Vec<FakeStripeCustomer> {
        self.state.lock().unwrap().customers.clone()
    }

    pub fn checkout_session(&self, id: &str) -> Option<FakeCheckoutSession> {
        self.state.lock().unwrap().sessions.iter().find(|s| s.id == id).cloned()
    }

    /// Checkout sessions, in creation order.
    pub fn checkout_sessions(&self) -> Vec<FakeCheckoutSession> {
        self.state.lock().unwrap().sessions.clone()
    }

    pub fn portal_sessions(&self) -> usize {
        self.state.lock().unwrap().portal_sessions
    }

    /// The subscription as `GET /v1/subscriptions/{id}` renders it.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.subscriptions.iter().find(|s| s.id == id).map(|s| st.subscription_json(s))
    }

    /// A customer made directly (as in the dashboard); its id.
    pub fn add_customer(&self, email: &str, user_id: Option<&str>) -> String {
        let metadata = user_id.map(|u| BTreeMap::from([("user_id".to_owned(), u.to_owned())])).unwrap_or_default();
        let customer = FakeStripeCustomer { id: new_id("cus"), email: Some(email.to_owned()), metadata };
        let id = customer.id.clone();
        self.state.lock().unwrap().customers.push(customer);
        id
    }

    /// The customer pays: the session's customer gets an `active` subscription to
    /// its price, carrying `subscription_data[metadata]`, for a month from now.
    pub fn complete_checkout(&self, session_id: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let session = st.sessions.iter().find(|s| s.id == session_id).cloned().expect("no such checkout session");
        assert!(session.subscription.is_none(), "checkout session {session_id} already completed");
        let customer = session.customer.clone().expect("a session without a customer");
        let now = unix_now();
        let sub = FakeSubscription {
            id: new_id("sub"),
            item_id: new_id("si"),
            customer,
            price: session.price.clone(),
            status: "active".to_owned(),
            cancel_at_period_end: false,
            current_period_start: now,
            current_period_end: now + 30 * 86_400,
            metadata: session.subscription_metadata.clone(),
            created: now,
        };
        let id = sub.id.clone();
        st.subscriptions.push(sub);
        if let Some(s) = st.sessions.iter_mut().find(|s| s.id == session_id) {
            s.subscription = Some(id.clone());
        }
        id
    }

    /// A subscription made directly (as in the dashboard), `active` for a month; its id.
    pub fn add_subscription(&self, customer: &str, price: &str, user_id: Option<&str>) -> String {
        let now = unix_now();
        let metadata = user_id.map(|u| BTreeMap::from([("user_id".to_owned(), u.to_owned())])).unwrap_or_default();
        let sub = FakeSubscription {
            id: new_id("sub"),
            item_id: new_id("si"),
            customer: customer.to_owned(),
            price: price.to_owned(),
            status: "active".to_owned(),
            cancel_at_period_end: false,
            current_period_start: now,
            current_period_end: now + 30 * 86_400,
            metadata,
            created: now,
        };
        let id = sub.id.clone();
        self.state.lock().unwrap().subscriptions.push(sub);
        id
    }

    /// What the dashboard, a failed payment or the end of a period does to a subscription.
    pub fn set_subscription(
        &self,
        id: &str,
        status: &str,
        cancel_at_period_end: bool,
        current_period_end: DateTime<Utc>,
    ) {
        let mut st = self.state.lock().unwrap();
        let sub = st.subscriptions.iter_mut().find(|s| s.id == id).expect("no such subscription");
        sub.status = status.to_owned();
        sub.cancel_at_period_end = cancel_at_period_end;
        sub.current_period_end = current_period_end.timestamp();
    }

    /// An invoice of `customer` (for `subscription`, if any); its id. `paid`
    /// invoices are paid in full, others not at all.
    pub fn add_invoice(&self, customer: &str, subscription: Option<&str>, amount_due: i64, status: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let number = format!("STANDIN-{:04}", st.invoices.len() + 1);
        let invoice = FakeInvoice {
            id: new_id("in"),
            customer: customer.to_owned(),
            subscription: subscription.map(str::to_owned),
            number,
            amount_due,
            amount_paid: if status == "paid" { amount_due } else { 0 },
            status: status.to_owned(),
            created: unix_now(),
        };
        let id = invoice.id.clone();
        st.invoices.push(invoice);
        id
    }

    /// A webhook endpoint registered at the account; its id.
    pub fn add_webhook_endpoint(&self, url: &str, api_version: Option<&str>) -> String {
        let id = new_id("we");
        self.state.lock().unwrap().webhook_endpoints.push(json!({
            "id": id, "object": "webhook_endpoint", "url": url, "api_version": api_version,
            "enabled_events": ["*"], "status": "enabled", "livemode": false, "created": unix_now()
        }));
        id
    }

    /// `event` as Stripe delivers it signed with `secret` now: the raw body and
    /// its `Stripe-Signature` header.
    pub fn signed_event(secret: &str, event: &Value) -> (Vec<u8>, String) {
        Self::signed_event_at(secret, event, unix_now())
    }

    /// [`Self::signed_event`] with the signature's timestamp given.
    pub fn signed_event_at(secret: &str, event: &Value, timestamp: i64) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(event).unwrap();
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(&body);
        let signature = to_hex(&hmac_sha256(secret.as_bytes(), &signed));
        (body, format!("t={timestamp},v1={signature}"))
    }

    /// An event of `kind` about `object`, shaped like Stripe's.
    pub fn event(kind: &str, object: Value) -> Value {
        json!({
            "id": new_id("evt"), "object": "event", "type": kind, "created": unix_now(),
            "api_version": STRIPE_STANDIN_API_VERSION, "livemode": false, "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "data": { "object": object }
        })
    }

    /// The checkout session as the event `checkout.session.completed` carries it.
    pub fn checkout_session_object(&self, id: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.sessions.iter().find(|s| s.id == id).map(|s| st.session_json(s))
    }

    /// The stand-in's own HMAC-SHA256, hex: exposed so a test can hold it to RFC 4231.
    pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
        to_hex(&hmac_sha256(key, message))
    }
}
