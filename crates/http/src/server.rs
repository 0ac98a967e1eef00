use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};

use crate::docs::OpenApiDocs;
use crate::rate_limit::{RoutePolicy, not_found};
use crate::{AppState, HttpConfig, TrustedProxies, client_ip, context, openapi, routes};

fn cors(config: &HttpConfig) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            header::RETRY_AFTER,
            header::ETAG,
            header::LOCATION,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("x-content-sha256"),
        ])
        .max_age(3600)
        // A request from an unlisted origin is served without CORS headers (the
        // browser then refuses it); only preflights are refused outright.
        .block_on_origin_mismatch(false);
    for origin in &config.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The application with its middleware stack, around `routes` (the API's own in
/// production; tests may add their own next to them).
pub fn build_app(
    state: AppState,
    config: HttpConfig,
    docs: OpenApiDocsHandle,
    routes: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = cors(&config);
    let trusted = TrustedProxies::new(config.trusted_proxies.clone(), config.forwarded_header);
    App::new()
        .app_data(web::Data::new(state.rate_limits.clone()))
        .app_data(web::Data::new(trusted))
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(config.payload_limit))
        .app_data(web::Data::new(config))
        .app_data(docs.0)
        .configure(routes)
        .default_service(not_found(RoutePolicy::Fixed(devora_app::PolicyKind::Public)))
        .wrap(cors)
        .wrap(from_fn(client_ip::resolve_client_ip))
        .wrap(from_fn(context::request_context))
        .wrap(Compress::default())
}

/// The rendered OpenAPI document, shared by every worker.
#[derive(Clone)]
pub struct OpenApiDocsHandle(web::Data<OpenApiDocs>);

impl OpenApiDocsHandle {
    /// Renders the document once.
    ///
    /// # Errors
    /// When the document cannot be serialised.
    pub fn render() -> Result<Self, String> {
        let doc = openapi::openapi_document();
        let json = doc.to_pretty_json().map_err(|e| e.to_string())?;
        let yaml = openapi::openapi_yaml()?;
        Ok(Self(web::Data::new(OpenApiDocs { json: json.into(), yaml: yaml.into() })))
    }
}

/// Starts serving on `listener`. The returned server runs when awaited; stop it
/// through its handle, which lets in-flight requests finish within
/// `shutdown_timeout` (the server binary stops it on SIGTERM/SIGINT).
///
/// # Errors
/// When the listener cannot be used or the document cannot be rendered.
/// Extra routes mounted beside the API's (tests mount probes of the stack here).
pub type RouteHook = fn(&mut web::ServiceConfig);

pub fn serve(
    listener: TcpListener,
    state: AppState,
    config: HttpConfig,
    extra_routes: Option<RouteHook>,
) -> std::io::Result<Server> {
    let docs = OpenApiDocsHandle::render().map_err(std::io::Error::other)?;
    let shutdown = config.shutdown_timeout.as_secs();
    let workers = config.workers;
    let mut server = HttpServer::new(move || {
        build_app(state.clone(), config.clone(), docs.clone(), move |cfg| {
            routes::configure(cfg);
            if let Some(extra) = extra_routes {
                extra(cfg);
            }
        })
    })
    .shutdown_timeout(shutdown)
    // The server binary owns the signals: it stops background tasks too.
    .disable_signals();
    if let Some(workers) = workers {
        server = server.workers(workers.max(1));
    }
    Ok(server.listen(listener)?.run())
}
