//! Middleware every request passes through.

/// A span per request, continuing the caller's trace if it sent one, and
/// request metrics by route.
pub(crate) async fn observe(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("http", %method, %route, %request_id, status = tracing::field::Empty, otel.kind = "server");
    zhenggai_common::telemetry::adopt_context(&span, request.headers());
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    metrics::counter!("zg_http_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!("zg_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
