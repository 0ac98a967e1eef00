//! [`PaymentGateway`] on the Stripe API, and the few fields of Stripe's objects it reads.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, SubscriptionStatus, UserId};
use devora_outbound::OutboundHttp;
use devora_ports::{
    CheckoutRequest, GatewayError, InvoicePage, PaymentGateway, ProviderInvoice, ProviderSubscription, WebhookEndpoint,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::StripeClient;
use crate::form::{Form, is_object_id};
use crate::{STRIPE_API_VERSION, StripeConfig};

/// The largest page Stripe lists.
const PAGE_LIMIT: u32 = 100;

/// The Stripe API as Devora's payment gateway.
pub struct StripeGateway {
    client: StripeClient,
}

impl StripeGateway {
    /// Calls go through `http`, the process's shared outbound client.
    #[must_use]
    pub fn new(config: StripeConfig, http: OutboundHttp) -> Self {
        Self { client: StripeClient::new(config, http) }
    }

    /// Every page of a list endpoint: `limit=100`, then `starting_after` the last
    /// id of each page while `has_more`.
    async fn list_all<T: DeserializeOwned + Listed>(&self, path: &str, params: &Form) -> Result<Vec<T>, GatewayError> {
        let mut all: Vec<T> = Vec::new();
        loop {
            let mut query = params.clone();
            query.push(&["limit"], PAGE_LIMIT.to_string());
            if let Some(last) = all.last() {
                query.push(&["starting_after"], last.id());
            }
            let page: List<T> = self.client.get(path, &query).await?;
            let more = page.has_more && !page.data.is_empty();
            all.extend(page.data);
            if !more {
                return Ok(all);
            }
        }
    }

    fn subscription_path(id: &str) -> Option<String> {
        is_object_id(id).then(|| format!("/v1/subscriptions/{id}"))
    }
}

/// Stripe's list envelope (`{"object": "list", "data": [...], "has_more": ...}`).
#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
    has_more: bool,
}

/// An object that pagination can continue after.
trait Listed {
    fn id(&self) -> &str;
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

/// A Checkout or portal session: only its URL is needed.
#[derive(Debug, Deserialize)]
struct Session {
    id: String,
    url: Option<String>,
}

/// An id, or the object when the field was expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn into_id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireSubscription {
    id: String,
    customer: Expandable,
    status: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    items: List<WireSubscriptionItem>,
    metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct WireSubscriptionItem {
    /// Where the period is since `2025-03-31.basil`.
    current_period_end: i64,
    price: Option<Created>,
}

impl Listed for WireSubscription {
    fn id(&self) -> &str {
        &self.id
    }
}

impl TryFrom<WireSubscription> for ProviderSubscription {
    type Error = GatewayError;

    fn try_from(wire: WireSubscription) -> Result<Self, GatewayError> {
        let unreadable = |what: String| GatewayError::Unavailable(format!("stripe subscription {}: {what}", wire.id));
        let status = SubscriptionStatus::parse(&wire.status)
            .ok_or_else(|| unreadable(format!("unknown status `{}`", wire.status)))?;
        let item = wire.items.data.first().ok_or_else(|| unreadable("no items".to_owned()))?;
        let current_period_end = DateTime::<Utc>::from_timestamp(item.current_period_end, 0)
            .ok_or_else(|| unreadable(format!("period end {} out of range", item.current_period_end)))?;
        let price_id = item.price.as_ref().map(|p| p.id.clone());
        let user_id = wire.metadata.as_ref().and_then(|m| m.get("user_id")).and_then(|raw| {
            let parsed = UserId::parse(raw);
            if parsed.is_none() {
                tracing::warn!(subscription = wire.id, raw, "stripe subscription metadata[user_id] is not a user id");
            }
            parsed
        });
        Ok(Self {
            id: wire.id,
            customer: wire.customer.into_id(),
            status,
            price_id,
            current_period_end,
            cancel_at_period_end: wire.cancel_at_period_end,
            user_id,
        })
    }
}

#[derive(Debug, Deserialize)]
struct WireInvoice {
    id: String,
    number: Option<String>,
    amount_due: i64,
    amount_paid: i64,
    currency: String,
    status: Option<String>,
    created: i64,
    hosted_invoice_url: Option<String>,
    invoice_pdf: Option<String>,
}

impl TryFrom<WireInvoice> for ProviderInvoice {
    type Error = GatewayError;

    fn try_from(wire: WireInvoice) -> Result<Self, GatewayError> {
        let created = DateTime::<Utc>::from_timestamp(wire.created, 0)
            .ok_or_else(|| GatewayError::Unavailable(format!("stripe invoice {}: created out of range", wire.id)))?;
        Ok(Self {
            id: wire.id,
            number: wire.number,
            amount_due: wire.amount_due,
            amount_paid: wire.amount_paid,
            currency: wire.currency,
            // Only a draft that was never finalised can lack a status.
            status: wire.status.unwrap_or_else(|| "draft".to_owned()),
            created,
            hosted_invoice_url: wire.hosted_invoice_url,
            invoice_pdf: wire.invoice_pdf,
        })
    }
}

#[derive(Debug, Deserialize)]
struct WireWebhookEndpoint {
    id: String,
    url: String,
    api_version: Option<String>,
}

impl Listed for WireWebhookEndpoint {
    fn id(&self) -> &str {
        &self.id
    }
}

fn session_url(session: Session, what: &str) -> Result<String, GatewayError> {
    session.url.ok_or_else(|| GatewayError::Unavailable(format!("stripe {what} {} has no url", session.id)))
}

fn subscriptions(wire: Vec<WireSubscription>) -> Result<Vec<ProviderSubscription>, GatewayError> {
    wire.into_iter().map(ProviderSubscription::try_from).collect()
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn api_version(&self) -> &'static str {
        STRIPE_API_VERSION
    }

    async fn create_customer(&self, user: UserId, email: &Email) -> Result<String, GatewayError> {
        let user = user.to_string();
        let mut form = Form::new();
        form.push(&["email"], email.as_str()).push(&["metadata", "user_id"], user.as_str());
        let created: Created = self.client.post("/v1/customers", &form, &format!("customer:{user}")).await?;
        Ok(created.id)
    }

    async fn create_checkout(&self, checkout: &CheckoutRequest, key: &str) -> Result<String, GatewayError> {
        let user = checkout.user_id.to_string();
        let mut form = Form::new();
        form.push(&["mode"], "subscription")
            .push(&["customer"], checkout.customer.as_str())
            .push(&["client_reference_id"], user.as_str())
            .push(&["metadata", "user_id"], user.as_str())
            .push(&["subscription_data", "metadata", "user_id"], user.as_str())
            .push(&["line_items", "0", "price"], checkout.price_id.as_str())
            .push(&["line_items", "0", "quantity"], "1")
            .push(&["success_url"], checkout.success_url.as_str())
            .push(&["cancel_url"], checkout.cancel_url.as_str());
        let session: Session = self.client.post("/v1/checkout/sessions", &form, key).await?;
        session_url(session, "checkout session")
    }

    async fn create_portal(&self, customer: &str, return_url: &str, key: &str) -> Result<String, GatewayError> {
        let mut form = Form::new();
        form.push(&["customer"], customer).push(&["return_url"], return_url);
        let session: Session = self.client.post("/v1/billing_portal/sessions", &form, key).await?;
        session_url(session, "portal session")
    }

    async fn subscription(&self, id: &str) -> Result<Option<ProviderSubscription>, GatewayError> {
        let Some(path) = Self::subscription_path(id) else { return Ok(None) };
        match self.client.get::<WireSubscription>(&path, &Form::new()).await {
            Ok(wire) => wire.try_into().map(Some),
            Err(GatewayError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn customer_subscriptions(&self, customer: &str) -> Result<Vec<ProviderSubscription>, GatewayError> {
        let mut params = Form::new();
        params.push(&["customer"], customer).push(&["status"], "all");
        subscriptions(self.list_all("/v1/subscriptions", &params).await?)
    }

    async fn all_subscriptions(&self) -> Result<Vec<ProviderSubscription>, GatewayError> {
        let mut params = Form::new();
        params.push(&["status"], "all");
        subscriptions(self.list_all("/v1/subscriptions", &params).await?)
    }

    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
        key: &str,
    ) -> Result<ProviderSubscription, GatewayError> {
        let path = Self::subscription_path(id).ok_or(GatewayError::NotFound)?;
        let mut form = Form::new();
        form.push(&["cancel_at_period_end"], if cancel { "true" } else { "false" });
        let wire: WireSubscription = self.client.post(&path, &form, key).await?;
        wire.try_into()
    }

    async fn invoices(
        &self,
        customer: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<InvoicePage, GatewayError> {
        let mut query = Form::new();
        query.push(&["customer"], customer).push(&["limit"], limit.clamp(1, PAGE_LIMIT).to_string());
        if let Some(after) = starting_after {
            query.push(&["starting_after"], after);
        }
        let page: List<WireInvoice> = self.client.get("/v1/invoices", &query).await?;
        let items = page.data.into_iter().map(ProviderInvoice::try_from).collect::<Result<_, _>>()?;
        Ok(InvoicePage { items, has_more: page.has_more })
    }

    async fn webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, GatewayError> {
        let endpoints: Vec<WireWebhookEndpoint> = self.list_all("/v1/webhook_endpoints", &Form::new()).await?;
        Ok(endpoints
            .into_iter()
            .map(|e| WebhookEndpoint { id: e.id, url: e.url, api_version: e.api_version })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: serde_json::Value) -> Result<ProviderSubscription, GatewayError> {
        serde_json::from_value::<WireSubscription>(json).unwrap().try_into()
    }

    #[test]
    fn a_subscription_reads_its_period_from_its_first_item_and_ignores_unknown_fields() {
        let user = UserId::new();
        let sub = wire(serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "past_due",
            "cancel_at_period_end": true, "some_future_field": {"x": 1},
            "metadata": { "user_id": user.to_string() },
            "items": { "object": "list", "has_more": false, "data": [
                { "id": "si_1", "current_period_end": 1_800_000_000, "price": { "id": "price_pro", "object": "price" } }
            ] }
        }))
        .unwrap();
        assert_eq!(sub.current_period_end.timestamp(), 1_800_000_000);
        assert_eq!(sub.status, SubscriptionStatus::PastDue);
        assert_eq!(sub.price_id.as_deref(), Some("price_pro"));
        assert_eq!(sub.user_id, Some(user));
        assert!(sub.cancel_at_period_end);
    }

    #[test]
    fn a_foreign_user_id_is_dropped_and_an_expanded_customer_is_read() {
        let sub = wire(serde_json::json!({
            "id": "sub_1", "customer": { "id": "cus_9", "object": "customer" }, "status": "active",
            "metadata": { "user_id": "not-a-uuid" },
            "items": { "has_more": false, "data": [{ "current_period_end": 1, "price": null }] }
        }))
        .unwrap();
        assert_eq!(sub.customer, "cus_9");
        assert_eq!(sub.user_id, None);
        assert_eq!(sub.price_id, None);
    }

    #[test]
    fn an_unknown_status_or_a_subscription_without_items_is_unreadable() {
        let base = |status: &str, items: serde_json::Value| {
            serde_json::json!({ "id": "sub_1", "customer": "cus_1", "status": status, "metadata": {},
                "items": { "has_more": false, "data": items } })
        };
        assert!(matches!(
            wire(base("dormant", serde_json::json!([{ "current_period_end": 1 }]))),
            Err(GatewayError::Unavailable(_))
        ));
        assert!(matches!(wire(base("active", serde_json::json!([]))), Err(GatewayError::Unavailable(_))));
    }
}
