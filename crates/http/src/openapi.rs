//! The OpenAPI 3.1 document, derived from the handlers' `#[utoipa::path]`s and the DTOs.

use devora_api_types::{ErrorCode, FieldError, FieldErrorCode, OAuthCallbackError, Problem};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::auth::{oauth, passwords, sessions};
use crate::billing::{subscriptions as billing_routes, webhooks};
use crate::generation::{jobs as generation_jobs, streams as generation_streams};
use crate::projects::{files, messages, project, revisions};
use crate::{admin, docs, service};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Devora API",
        version = "2.0.0",
        description = "Devora's backend: accounts and sign-in, projects with their files and conversation, \
billing with Stripe (plans and what they grant, checkout, portal, webhooks, reconcile), \
AI generation jobs that stream their progress (Server-Sent Events, WebSocket) within the plan's budget. \
and an admin area (accounts, support views, stats, an append-only audit log).\n\n\
Errors are RFC 9457 `application/problem+json` documents with a stable `code` and the `request_id`; \
every response carries `X-Request-Id`.",
    ),
    paths(
        service::root,
        service::live,
        service::ready,
        service::metrics,
        docs::openapi_json,
        docs::openapi_yaml,
        passwords::register,
        passwords::login,
        sessions::refresh,
        sessions::logout,
        sessions::me,
        sessions::update_me,
        passwords::change_password,
        sessions::sessions,
        sessions::revoke_session,
        oauth::providers,
        oauth::authorize,
        oauth::callback,
        oauth::exchange,
        project::list,
        project::create,
        project::get,
        project::update,
        project::delete,
        files::list_files,
        files::read_file,
        files::put_file,
        files::delete_file,
        messages::list_messages,
        messages::post_message,
        revisions::list_revisions,
        revisions::get_revision,
        revisions::restore_revision,
        billing_routes::plans,
        billing_routes::subscription,
        billing_routes::sync,
        billing_routes::checkout,
        billing_routes::portal,
        billing_routes::cancel,
        billing_routes::resume,
        billing_routes::invoices,
        webhooks::stripe,
        generation_jobs::models,
        generation_jobs::options,
        generation_jobs::start_agentic,
        generation_jobs::start_fullstack,
        generation_jobs::list,
        generation_jobs::get,
        generation_jobs::cancel,
        generation_jobs::ticket,
        generation_streams::events,
        generation_streams::websocket,
        generation_jobs::usage,
        admin::users::list_users,
        admin::users::get_user,
        admin::users::update_user,
        admin::support::user_projects,
        admin::support::user_jobs,
        admin::support::cancel_job,
        admin::operations::stats,
        admin::operations::audit_log,
        admin::operations::reconcile_billing,
    ),
    components(schemas(Problem, ErrorCode, FieldError, FieldErrorCode, OAuthCallbackError)),
    tags(
        (name = "service", description = "Service information, health, metrics and documentation"),
        (name = "auth", description = "Accounts, tokens, sessions and Google/GitHub sign-in"),
        (name = "projects", description = "Projects, their files and conversation"),
        (name = "billing", description = "Plans, the caller's subscription (Stripe Checkout and portal), invoices, and Stripe's webhook"),
        (name = "generation", description = "AI generation jobs: start, watch (Server-Sent Events or WebSocket), cancel; models, options and usage"),
        (name = "admin", description = "Operator routes, for administrators only"),
    ),
    modifiers(&BearerAuth, &Conventions),
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme (access JWT) that authenticated routes reference.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The conventions every operation follows (`API.md`), written once here rather
/// than on each route:
/// - every response carries `X-Request-Id`, and `RateLimit-Policy` / `RateLimit`
///   when limiting is on (every route belongs to a policy);
/// - an operation with a JSON body can answer 400 (malformed), 413 (too large),
///   415 (not JSON) and 422 (unknown field); a signed-in one, 401;
/// - every operation can answer 429 `quota-exceeded` with `Retry-After`, and 500;
///   one that uses the database, 503 `service-unavailable` with `Retry-After`;
///   one with query parameters can answer 400 for a query that cannot be read;
/// - a cached read (one that documents 304) takes `If-None-Match` and answers with an `ETag`;
/// - a creating POST that takes `Idempotency-Key` (1..255 visible ASCII characters)
///   marks replays with `Idempotent-Replayed` and asks a concurrent duplicate to
///   come back after `Retry-After`;
/// - a signed-in operation's 401 names the scheme in `WWW-Authenticate`;
/// - binary bodies are strings of bytes (`contentMediaType`).
struct Conventions;

const OCTET_STREAM: &str = "application/octet-stream";

const REQUEST_ID: &str = "X-Request-Id";
const RATE_LIMIT_POLICY: &str = "RateLimit-Policy";
const RATE_LIMIT: &str = "RateLimit";
const RETRY_AFTER: &str = "Retry-After";
const ETAG: &str = "ETag";
const REPLAYED: &str = "Idempotent-Replayed";
const WWW_AUTHENTICATE: &str = "WWW-Authenticate";

impl Conventions {
    /// The reusable headers, under `components.headers`.
    fn headers() -> [(&'static str, utoipa::openapi::header::Header); 7] {
        use utoipa::openapi::header::HeaderBuilder;
        let string = |pattern: Option<&str>| ObjectBuilder::new().schema_type(Type::String).pattern(pattern).build();
        let header = |description: &str,
                      schema: utoipa::openapi::Object,
                      example: serde_json::Value,
                      required: bool| {
            let mut header =
                HeaderBuilder::new().description(Some(description)).schema(Some(schema)).example(Some(example)).build();
            if required {
                // utoipa's Header has no `required` field; extensions serialise inline.
                let mut extensions = utoipa::openapi::extensions::Extensions::default();
                extensions.insert("required".to_owned(), serde_json::Value::Bool(true));
                header.extensions = Some(extensions);
            }
            header
        };
        [
            (
                REQUEST_ID,
                header(
                    "The request's id: the client's own when it sent a sane one, otherwise a new one. Quote it when reporting a problem.",
                    string(Some("^[A-Za-z0-9._-]{1,64}$")),
                    "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d".into(),
                    true,
                ),
            ),
            (
                RATE_LIMIT_POLICY,
                header(
                    "The route's rate-limit policy: `\"<name>\";q=<quota>;w=<window seconds>` (sent when limiting is on).",
                    string(None),
                    "\"reads\";q=100;w=60".into(),
                    false,
                ),
            ),
            (
                RATE_LIMIT,
                header(
                    "Where the caller stands: `\"<name>\";r=<remaining>;t=<seconds until replenished>` (sent when limiting is on).",
                    string(None),
                    "\"reads\";r=97;t=2".into(),
                    false,
                ),
            ),
            (
                RETRY_AFTER,
                header(
                    "Seconds to wait before retrying.",
                    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).build(),
                    7.into(),
                    true,
                ),
            ),
            (
                ETAG,
                header(
                    "The representation's entity tag; send it back in `If-None-Match`.",
                    string(None),
                    "\"3f2a9c0d8b1e4f5a\"".into(),
                    true,
                ),
            ),
            (
                WWW_AUTHENTICATE,
                header(
                    "The scheme to authenticate with, on a 401 for a missing, invalid, expired or revoked access token.",
                    string(None),
                    "Bearer realm=\"devora\"".into(),
                    false,
                ),
            ),
            (
                REPLAYED,
                header(
                    "`true` when this is the stored first response to the same `Idempotency-Key` and body.",
                    string(Some("^true$")),
                    "true".into(),
                    false,
                ),
            ),
        ]
    }
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in Self::headers() {
            components.headers.insert(name.to_owned(), RefOr::T(header));
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                Self::apply(operation);
            }
        }
    }
}

impl Conventions {
    fn apply(operation: &mut Operation) {
        let has_parameter = |operation: &Operation, matches: &dyn Fn(&Parameter) -> bool| {
            operation.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if matches(p)))
        };
        // Everything but the service routes reads or writes the database, except
        // the providers list (configuration) and the callback (always a redirect,
        // with `?error=internal` at worst).
        let uses_database = !operation.tags.iter().flatten().any(|tag| tag == "service")
            && !matches!(operation.operation_id.as_deref(), Some("oauth_providers" | "oauth_callback"));
        let has_query = has_parameter(operation, &|p| p.parameter_in == ParameterIn::Query);
        let idempotent = has_parameter(operation, &|p| p.name.eq_ignore_ascii_case("Idempotency-Key"));
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let json_body =
            matches!(&operation.request_body, Some(RefOr::T(body)) if body.content.contains_key("application/json"));
        for parameter in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(p) = parameter
                && p.name.eq_ignore_ascii_case("Idempotency-Key")
            {
                p.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$"))
                        .examples(["5f0c6a8e-2d1b-4c7e-9a3f-8b2d1e0c4a6f"])
                        .into(),
                );
            }
        }
        // Binary bodies are bytes, not the array of integers `Vec<u8>` is described as.
        let bytes = || -> RefOr<Schema> {
            ObjectBuilder::new().schema_type(Type::String).content_media_type("application/octet-stream").into()
        };
        if let Some(RefOr::T(body)) = operation.request_body.as_mut()
            && let Some(RefOr::T(content)) = body.content.get_mut(OCTET_STREAM)
        {
            content.schema = Some(bytes());
        }
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response
                && let Some(RefOr::T(content)) = response.content.get_mut(OCTET_STREAM)
            {
                content.schema = Some(bytes());
            }
        }
        let cached = operation.responses.responses.contains_key("304");
        if cached && !has_parameter(operation, &|p| p.name.eq_ignore_ascii_case("If-None-Match")) {
            operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(
                ParameterBuilder::new()
                    .name("If-None-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("An `ETag` from an earlier answer: 304 with no body if it still matches"))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ));
        }

        let responses = &mut operation.responses.responses;
        let mut problem = |status: &str, description: &str| {
            responses.entry(status.to_owned()).or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                    )
                    .build()
                    .into()
            });
        };
        // A JSON body can be unreadable, too large, not JSON, or carry a field the
        // route does not take; a signed-in route can lack a valid token. Routes
        // document only the answers particular to them.
        if json_body {
            problem("400", "Malformed JSON");
            problem("413", "Body too large");
            problem("415", "Not JSON");
            problem("422", "Unknown field");
        }
        if secured {
            problem("401", "No valid access token");
        }
        problem("429", "Rate limited (`quota-exceeded`): retry after `Retry-After` seconds");
        problem("500", "Unexpected error; only the `request_id` is disclosed");
        // Billing and admin operations that call Stripe share their unavailable answer.
        let calls_stripe = operation.tags.iter().flatten().any(|tag| tag == "billing" || tag == "admin")
            && operation.operation_id.as_deref() != Some("list_plans");
        if calls_stripe {
            problem(
                "503",
                "Stripe unreachable (`provider-unavailable`), not configured (`not-configured`), or the database unavailable",
            );
        }
        if uses_database {
            problem("503", "The database is unavailable (`service-unavailable`): retry after `Retry-After` seconds");
        }
        if has_query {
            problem("400", "Malformed query string, such as a repeated parameter (`malformed-request`)");
        }

        for (status, response) in responses.iter_mut() {
            let RefOr::T(response) = response else { continue };
            let mut names = vec![REQUEST_ID, RATE_LIMIT_POLICY, RATE_LIMIT];
            if status == "429" || (uses_database && status == "503") || (idempotent && status == "409") {
                names.push(RETRY_AFTER);
            }
            if cached && (status == "200" || status == "304") {
                names.push(ETAG);
            }
            if idempotent && status.starts_with('2') {
                names.push(REPLAYED);
            }
            if secured && status == "401" {
                names.push(WWW_AUTHENTICATE);
            }
            for name in names {
                let reference = Ref::new(format!("#/components/headers/{name}"));
                response.headers.entry(name.to_owned()).or_insert_with(|| RefOr::Ref(reference));
            }
        }
    }
}

/// The document as served at `/openapi.json`.
#[must_use]
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as YAML, as served at `/openapi.yaml` and committed in `docs/openapi.yaml`.
///
/// # Errors
/// When YAML serialisation fails (it does not for this document).
pub fn openapi_yaml() -> Result<String, String> {
    openapi_document().to_yaml().map_err(|e| e.to_string())
}
