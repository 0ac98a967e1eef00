//! [`WebhookVerifier`] for Stripe's signed deliveries.
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, where each
//! `v1` is HMAC-SHA256 over `"{t}.{raw body}"` keyed with an endpoint secret.
//! Several `v1` entries appear while Stripe itself rolls a secret; several
//! configured secrets cover a rotation on our side. `v0` (test-mode SHA-1 era) is ignored.

use chrono::{DateTime, Utc};
use devora_ports::{ProviderEvent, WebhookError, WebhookVerifier};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::StripeWebhookConfig;

type HmacSha256 = Hmac<Sha256>;

/// Verifies Stripe webhook deliveries against the configured endpoint secrets.
pub struct StripeWebhooks {
    config: StripeWebhookConfig,
}

impl StripeWebhooks {
    /// With no secret configured every delivery is refused.
    #[must_use]
    pub fn new(config: StripeWebhookConfig) -> Self {
        Self { config }
    }
}

struct SignatureHeader<'a> {
    /// As sent: the signed payload starts with exactly this text.
    timestamp_text: &'a str,
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn bad(reason: &str) -> WebhookError {
    WebhookError::BadSignature(reason.to_owned())
}

fn parse_header(header: &str) -> Result<SignatureHeader<'_>, WebhookError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            return Err(bad("the Stripe-Signature header is malformed"));
        };
        match key {
            "t" if timestamp.is_some() => return Err(bad("the Stripe-Signature header has two timestamps")),
            "t" => timestamp = Some(value),
            // An entry that is not hex cannot match; the others still may.
            "v1" => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp_text = timestamp.ok_or_else(|| bad("the Stripe-Signature header has no timestamp"))?;
    let timestamp = timestamp_text
        .parse::<i64>()
        .ok()
        .filter(|_| timestamp_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad("the Stripe-Signature timestamp is not a number"))?;
    if v1.is_empty() {
        return Err(bad("the Stripe-Signature header has no v1 signature"));
    }
    Ok(SignatureHeader { timestamp_text, timestamp, v1 })
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: WireEventData,
}

#[derive(Debug, Deserialize)]
struct WireEventData {
    object: serde_json::Value,
}

/// An id field that may also be an expanded object.
fn id_at(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(object) => object.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn read_event(payload: &[u8]) -> Result<ProviderEvent, WebhookError> {
    let event: WireEvent = serde_json::from_slice(payload).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let created = DateTime::<Utc>::from_timestamp(event.created, 0)
        .ok_or_else(|| WebhookError::Malformed(format!("created {} out of range", event.created)))?;
    let object = &event.data.object;
    let kind = object.get("object").and_then(|k| k.as_str());
    let own_id = || id_at(object.get("id"));
    let customer = if kind == Some("customer") { own_id() } else { id_at(object.get("customer")) };
    let subscription = if kind == Some("subscription") {
        own_id()
    } else {
        // Invoices name it under `parent` since 2025-03-31.basil; checkout sessions,
        // and invoices rendered in an older endpoint version, at the top level.
        id_at(object.pointer("/parent/subscription_details/subscription")).or_else(|| id_at(object.get("subscription")))
    };
    let client_reference_id = object.get("client_reference_id").and_then(|v| v.as_str()).map(str::to_owned);
    Ok(ProviderEvent { id: event.id, kind: event.kind, created, customer, subscription, client_reference_id })
}

impl WebhookVerifier for StripeWebhooks {
    fn verify(
        &self,
        signature_header: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError> {
        let header = parse_header(signature_header)?;
        let signed = self.config.secrets.iter().any(|secret| {
            let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else { return false };
            mac.update(header.timestamp_text.as_bytes());
            mac.update(b".");
            mac.update(payload);
            // `verify_slice` compares in constant time.
            header.v1.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok())
        });
        if !signed {
            return Err(bad("no v1 signature matches a configured secret"));
        }
        let skew = now.timestamp().abs_diff(header.timestamp);
        if skew > self.config.tolerance.as_secs() {
            return Err(bad("the signature's timestamp is outside the tolerance"));
        }
        read_event(payload)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SECRET: &str = "whsec_test_current";
    const OLD_SECRET: &str = "whsec_test_previous";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    fn verifier(secrets: &[&str]) -> StripeWebhooks {
        StripeWebhooks::new(StripeWebhookConfig {
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            tolerance: Duration::from_secs(300),
        })
    }

    fn checkout_completed() -> Vec<u8> {
        serde_json::json!({
            "id": "evt_1", "object": "event", "type": "checkout.session.completed", "created": 1_799_999_990,
            "api_version": crate::STRIPE_API_VERSION,
            "data": { "object": {
                "id": "cs_1", "object": "checkout.session", "customer": "cus_1", "subscription": "sub_1",
                "client_reference_id": "0190e0e0-0000-7000-8000-000000000001", "mode": "subscription"
            } }
        })
        .to_string()
        .into_bytes()
    }

    fn header(timestamp: i64, signatures: &[String]) -> String {
        let mut header = format!("t={timestamp}");
        for sig in signatures {
            header.push_str(&format!(",v1={sig}"));
        }
        header
    }

    #[test]
    fn a_valid_signature_yields_the_event() {
        let body = checkout_completed();
        let t = now().timestamp();
        let event = verifier(&[SECRET]).verify(&header(t, &[sign(SECRET, t, &body)]), &body, now()).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.kind, "checkout.session.completed");
        assert_eq!(event.created.timestamp(), 1_799_999_990);
        assert_eq!(event.customer.as_deref(), Some("cus_1"));
        assert_eq!(event.subscription.as_deref(), Some("sub_1"));
        assert_eq!(event.client_reference_id.as_deref(), Some("0190e0e0-0000-7000-8000-000000000001"));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_rejected() {
        let body = checkout_completed();
        let t = now().timestamp();
        let err = verifier(&[SECRET]).verify(&header(t, &[sign("whsec_other", t, &body)]), &body, now()).unwrap_err();
        assert!(matches!(err, WebhookError::BadSignature(_)), "{err}");
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected_and_the_edges_accepted() {
        let body = checkout_completed();
        let hooks = verifier(&[SECRET]);
        for (offset, ok) in [(-301, false), (301, false), (-300, true), (300, true), (-10_000, false), (10_000, false)]
        {
            let t = now().timestamp() + offset;
            let result = hooks.verify(&header(t, &[sign(SECRET, t, &body)]), &body, now());
            assert_eq!(result.is_ok(), ok, "offset {offset}: {result:?}");
        }
    }

    #[test]
    fn one_matching_v1_among_several_suffices_and_v0_is_ignored() {
        let body = checkout_completed();
        let t = now().timestamp();
        let signatures = [sign("whsec_rolled", t, &body), "zz-not-hex".to_owned(), sign(SECRET, t, &body)];
        let with_v0 = format!("{},v0={}", header(t, &signatures), sign(SECRET, t, &body));
        assert!(verifier(&[SECRET]).verify(&with_v0, &body, now()).is_ok());
        let only_v0 = format!("t={t},v0={}", sign(SECRET, t, &body));
        assert!(verifier(&[SECRET]).verify(&only_v0, &body, now()).is_err(), "v0 never verifies");
    }

    #[test]
    fn during_a_rotation_the_old_and_the_new_secret_both_verify() {
        let body = checkout_completed();
        let t = now().timestamp();
        let hooks = verifier(&[OLD_SECRET, SECRET]);
        assert!(hooks.verify(&header(t, &[sign(OLD_SECRET, t, &body)]), &body, now()).is_ok());
        assert!(hooks.verify(&header(t, &[sign(SECRET, t, &body)]), &body, now()).is_ok());
        assert!(verifier(&[]).verify(&header(t, &[sign(SECRET, t, &body)]), &body, now()).is_err());
    }

    #[test]
    fn a_tampered_body_or_timestamp_is_rejected() {
        let body = checkout_completed();
        let t = now().timestamp();
        let sig = sign(SECRET, t, &body);
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'1').unwrap();
        tampered[at] = b'2';
        assert!(verifier(&[SECRET]).verify(&header(t, std::slice::from_ref(&sig)), &tampered, now()).is_err());
        assert!(verifier(&[SECRET]).verify(&header(t + 1, &[sig]), &body, now()).is_err(), "t is signed too");
    }

    #[test]
    fn a_missing_or_garbled_header_is_rejected() {
        let body = checkout_completed();
        let t = now().timestamp();
        let sig = sign(SECRET, t, &body);
        for header in [
            String::new(),
            "garbage".to_owned(),
            format!("v1={sig}"),
            format!("t={t}"),
            format!("t=abc,v1={sig}"),
            format!("t=+{t},v1={sig}"),
            format!("t={t},t={t},v1={sig}"),
            format!("t={t},v1=nothex"),
        ] {
            let err = verifier(&[SECRET]).verify(&header, &body, now()).unwrap_err();
            assert!(matches!(err, WebhookError::BadSignature(_)), "{header}: {err}");
        }
    }

    #[test]
    fn a_signed_payload_that_is_not_an_event_is_malformed() {
        let body = br#"{"hello":"world"}"#;
        let t = now().timestamp();
        let err = verifier(&[SECRET]).verify(&header(t, &[sign(SECRET, t, body)]), body, now()).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(_)), "{err}");
    }

    #[test]
    fn subscription_and_invoice_events_name_their_subscription_and_customer() {
        let event = |object: serde_json::Value| {
            read_event(
                serde_json::json!({ "id": "evt_2", "type": "x", "created": 1, "data": { "object": object } })
                    .to_string()
                    .as_bytes(),
            )
            .unwrap()
        };
        let sub = event(serde_json::json!({ "id": "sub_7", "object": "subscription", "customer": "cus_7" }));
        assert_eq!((sub.subscription.as_deref(), sub.customer.as_deref()), (Some("sub_7"), Some("cus_7")));
        let invoice = event(serde_json::json!({ "id": "in_1", "object": "invoice", "customer": "cus_7",
            "parent": { "type": "subscription_details", "subscription_details": { "subscription": "sub_7" } } }));
        assert_eq!(invoice.subscription.as_deref(), Some("sub_7"));
        let old_invoice = event(
            serde_json::json!({ "id": "in_2", "object": "invoice", "customer": "cus_7", "subscription": "sub_8" }),
        );
        assert_eq!(old_invoice.subscription.as_deref(), Some("sub_8"));
        let customer = event(serde_json::json!({ "id": "cus_9", "object": "customer" }));
        assert_eq!((customer.customer.as_deref(), customer.subscription), (Some("cus_9"), None));
        let nothing = event(serde_json::json!({ "id": "prod_1", "object": "product" }));
        assert_eq!((nothing.customer, nothing.subscription, nothing.client_reference_id), (None, None, None));
    }
}
