//! What billing needs from the outside: the payment provider, its webhooks, and
//! storage for customers, subscriptions and the events seen.

mod entitlements;
mod gateway;
mod store;

pub use entitlements::{Entitlement, Entitlements};
pub use gateway::{
    CheckoutRequest, GatewayError, InvoicePage, PaymentGateway, ProviderEvent, ProviderInvoice, ProviderSubscription,
    WebhookEndpoint, WebhookError, WebhookVerifier,
};
pub use store::{BillingStore, CustomerLock};
