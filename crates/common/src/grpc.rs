//! The frame every gRPC service stands in: one port that serves the service's
//! gRPC API, the standard `grpc.health.v1` health service, server reflection,
//! and plain HTTP `/metrics` and `/healthz`; the caller's identity checked on
//! every API call; a span per request that continues the caller's trace; and
//! a graceful stop that finishes the requests in flight.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::error::ErrorCode;
use crate::identity::{Caller, Peer, ServiceIdentity, TokenVerifier};

/// Who may call: users through the gateway's tokens, and, where configured,
/// the other back-end services through theirs.
#[derive(Clone)]
pub struct Verifiers {
    /// People, through the gateway's tokens.
    pub users: TokenVerifier,
    /// The other back-end services, through their own key pair (none: only people may call).
    pub services: Option<ServiceIdentity>,
}

/// The largest message a service accepts or sends (a division table import).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The process-wide Prometheus recorder (several services may share a process
/// in tests; they share the recorder too).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

/// Serves `routes` (the service's own gRPC services) with health, reflection,
/// identity checks, tracing and metrics on `listener` until `shutdown`.
///
/// `service_name` is the fully qualified gRPC service name that the health
/// service reports as serving (e.g. `zhenggai.catalogue.v1.CatalogueService`).
pub async fn serve(
    service_name: &'static str,
    routes: Routes,
    verifier: Verifiers,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(service_name, tonic_health::ServingStatus::Serving)
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhenggai_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhenggai_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let metrics = metrics_handle();
    let router = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(verifier, authenticate))
        .route(
            "/metrics",
            axum::routing::get(move || std::future::ready(metrics.render())),
        )
        .route("/healthz", axum::routing::get(|| std::future::ready("ok")))
        .layer(axum::middleware::from_fn(observe));

    tracing::info!(service = service_name, address = %listener.local_addr()?, "serving gRPC");
    let stopping = async move {
        shutdown.await;
        health_reporter
            .set_service_status(service_name, tonic_health::ServingStatus::NotServing)
            .await;
    };
    axum::serve(no_delay(listener), router)
        .with_graceful_shutdown(stopping)
        .await?;
    tracing::info!(service = service_name, "stopped");
    Ok(())
}

/// Accepts connections with `TCP_NODELAY`: small answers go out at once
/// instead of waiting for the peer's delayed acknowledgement (about 40 ms a
/// round trip otherwise).
pub fn no_delay(listener: TcpListener) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    })
}

/// Paths that answer without an identity: health, reflection, and the plain
/// HTTP probes. Everything else needs one.
fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
        || path == "/metrics"
        || path == "/healthz"
}

/// Refuses calls that do not carry a valid identity; passes the verified
/// [`Caller`] (a user) or [`Peer`] (a service) on in the request extensions.
/// Health and reflection stay open.
async fn authenticate(
    State(verifier): State<Verifiers>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else {
        return ErrorCode::Unauthenticated
            .status("this call needs the caller's identity: authorization: Bearer <token>")
            .into_http::<axum::body::Body>()
            .into_response();
    };
    let peer = |token| {
        verifier
            .services
            .as_ref()
            .and_then(|services| services.verify(token).ok())
    };
    match verifier.users.verify(token) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(_) if let Some(peer) = peer(token) => {
            request.extensions_mut().insert(peer);
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(%error, "identity refused");
            ErrorCode::Unauthenticated
                .status("the caller's identity is not valid")
                .into_http::<axum::body::Body>()
                .into_response()
        }
    }
}

/// A span per request that continues the caller's trace, and request metrics.
async fn observe(request: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", rpc = %path, otel.kind = "server");
    crate::telemetry::adopt_context(&span, request.headers());
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("0")
        .to_owned();
    // Paths nobody serves, or that strangers probe, would grow the label set
    // without bound: they share one label.
    let path = if matches!(grpc_status.as_str(), "12" | "16")
        || response.status() == http::StatusCode::NOT_FOUND
    {
        "other".to_owned()
    } else {
        path
    };
    metrics::counter!("zg_grpc_requests_total", "rpc" => path.clone(), "grpc_status" => grpc_status).increment(1);
    metrics::histogram!("zg_grpc_request_duration_seconds", "rpc" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The verified caller of a request that passed [`serve`]'s identity check.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| ErrorCode::Unauthenticated.status("the caller's identity is missing"))
}

/// The peer service of an internal call; users are refused.
pub fn peer<T>(request: &tonic::Request<T>) -> Result<&Peer, tonic::Status> {
    request.extensions().get::<Peer>().ok_or_else(|| {
        ErrorCode::PermissionDenied.status("this call is for the zhenggai services themselves")
    })
}

/// Wraps a message for a call to another service on behalf of the caller
/// whose `token` the gateway verified: identity and trace context go along.
pub fn outgoing<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    let mut headers = http::HeaderMap::new();
    crate::telemetry::inject_context(&mut headers);
    for (name, value) in &headers {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_bytes()),
        ) {
            request.metadata_mut().insert(key, value);
        }
    }
    request
}

/// A channel to a peer service that connects on first use and reconnects by
/// itself, so a peer that starts later or restarts is picked up. A unary call
/// on it gives up after 30 s.
pub fn channel(url: &str) -> anyhow::Result<tonic::transport::Channel> {
    channel_with_timeout(url, std::time::Duration::from_secs(30))
}

/// [`channel`] whose unary calls give up after `timeout` (the gateway's own
/// request timeout, which bounds the calls it makes for a request).
pub fn channel_with_timeout(
    url: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// A gRPC service's whole life: read the gateway's public key, connect to
/// (and create) its own database, apply its migrations, start the clock,
/// let `setup` prepare the service's routes (seeding, if it seeds), serve
/// them with the clock service until `shutdown`, then close the pool.
pub async fn run_service<F, Fut>(
    service_name: &'static str,
    config: &crate::config::ServiceConfig,
    default_database: &str,
    migrator: &sqlx::migrate::Migrator,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    setup: F,
) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool, crate::clock::Clock) -> Fut,
    Fut: Future<Output = anyhow::Result<Routes>>,
{
    let verifier = Verifiers {
        users: TokenVerifier::from_file(&config.identity.public_key_file)?,
        services: config.identity.service_identity(service_name)?,
    };
    let pool = crate::db::connect(&config.database, default_database, migrator).await?;
    let clock = crate::clock::start(&pool, config.drill).await?;
    let routes =
        setup(pool.clone(), clock.clone())
            .await?
            .add_service(crate::clock::ClockApi::server(
                service_name,
                clock,
                pool.clone(),
            ));
    serve(service_name, routes, verifier, listener, shutdown).await?;
    pool.close().await;
    Ok(())
}

/// The answer to every service's `Describe` call.
pub async fn describe(
    service: &str,
    pool: &sqlx::PgPool,
) -> Result<(String, String, i64), tonic::Status> {
    let schema_version = crate::db::schema_version(pool).await.map_err(|error| {
        let code = crate::error::database_error(&error);
        code.status(code.title())
    })?;
    Ok((
        service.to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
    ))
}

/// Rows of a list page by default.
pub const DEFAULT_PAGE: u32 = 100;
/// The most rows a list page holds.
pub const MAX_PAGE: u32 = 1_000;

/// The page size a request's `limit` asks for (0: the default).
pub fn page_limit(limit: u32) -> u32 {
    if limit == 0 {
        DEFAULT_PAGE
    } else {
        limit.min(MAX_PAGE)
    }
}

/// Turns the `limit + 1` rows a list fetched (the extra one tells whether
/// more follow) into a page and the cursor of the next one (empty on the last).
pub fn paged<T, M, R>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> String,
    convert: impl Fn(T) -> M,
    build: impl Fn(Vec<M>, String) -> R,
) -> R {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(&key).unwrap_or_default()
    } else {
        String::new()
    };
    build(rows.into_iter().map(convert).collect(), next_cursor)
}
