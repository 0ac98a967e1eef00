//! Every billing error a client can get, mapped to its status and stable code.

use actix_web::http::header::{self, HeaderValue};
use devora_api_types::{ErrorCode, FieldErrorCode};
use devora_app::billing::{BillingError, WebhookFailure};

use crate::ApiError;
use crate::error::field_error;

impl From<BillingError> for ApiError {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::NotConfigured(missing) => missing.into(),
            BillingError::UnknownPlan => {
                Self::validation(vec![field_error("plan_id", FieldErrorCode::Invalid, "is not a plan on offer")])
            }
            BillingError::FreePlan => Self::validation(vec![field_error(
                "plan_id",
                FieldErrorCode::NotAllowed,
                "the free plan is not bought",
            )]),
            BillingError::AlreadySubscribed => Self::new(
                ErrorCode::Conflict,
                "You already have a subscription; change plans in the billing portal (POST /billing/portal).",
            ),
            BillingError::UnknownCursor => Self::validation(vec![field_error(
                "cursor",
                FieldErrorCode::Invalid,
                "is not a cursor this API issued",
            )]),
            BillingError::NoSubscription => Self::new(
                ErrorCode::Conflict,
                "You have no subscription to manage; start one with POST /billing/checkout.",
            ),
            BillingError::ProviderUnavailable(detail) => {
                tracing::warn!(detail, "payment provider unavailable");
                Self::new(ErrorCode::ProviderUnavailable, "The payment provider cannot be reached; try again shortly.")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            }
            BillingError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<WebhookFailure> for ApiError {
    fn from(err: WebhookFailure) -> Self {
        match err {
            WebhookFailure::NotConfigured(missing) => missing.into(),
            WebhookFailure::Rejected(why) => {
                tracing::warn!(why, "webhook delivery refused");
                Self::new(ErrorCode::WebhookSignatureInvalid, "The Stripe-Signature does not verify for this body.")
            }
            WebhookFailure::Failed(err) => err.into(),
        }
    }
}
