//! The OpenAPI 3.1 document, derived from the handlers' `#[utoipa::path]`s and the DTOs.

use devora_api_types::{ErrorCode, FieldError, Problem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, docs, projects, service};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Devora API",
        version = "2.0.0",
        description = "Devora's backend: accounts, projects, AI generation jobs, billing and administration.\n\n\
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
        auth::register,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        auth::update_me,
        auth::change_password,
        auth::sessions,
        auth::revoke_session,
        auth::providers,
        auth::authorize,
        auth::callback,
        auth::exchange,
        projects::list,
        projects::create,
        projects::get,
        projects::update,
        projects::delete,
        projects::list_files,
        projects::read_file,
        projects::put_file,
        projects::delete_file,
        projects::list_messages,
        projects::post_message,
    ),
    components(schemas(Problem, ErrorCode, FieldError)),
    tags(
        (name = "service", description = "Service information, health, metrics and documentation"),
        (name = "auth", description = "Accounts, tokens, sessions and Google/GitHub sign-in"),
        (name = "projects", description = "Projects, their files and conversation"),
    ),
    modifiers(&BearerAuth, &InternalErrors),
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

/// Any operation can fail unexpectedly: document the 500 problem on each.
struct InternalErrors;

impl Modify for InternalErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = || {
            ResponseBuilder::new()
                .description("Unexpected error; only the `request_id` is disclosed")
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                operation.responses.responses.entry("500".to_owned()).or_insert_with(|| problem().into());
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
