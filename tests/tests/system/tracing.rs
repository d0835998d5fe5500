//! One request is one trace: the gateway's span and the catalogue's spans for
//! the calls it makes share a trace id at a real OTLP/gRPC collector.
//!
//! Its own test binary, because telemetry is installed once per process.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use zhenggai_system_tests::Stack;

/// A collector that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(text) => Some(text.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_from_gateway_to_catalogue() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    // SAFETY: set before any other thread of this test reads the environment.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{address}")) };
    let telemetry = zhenggai_common::telemetry::init("system-test").unwrap();

    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let (status, _) = stack
        .json(stack.get("/api/v1/units/411081114204", &admin))
        .await;
    assert_eq!(status, 200);

    let mut found = None;
    for _ in 0..50 {
        telemetry.flush();
        let spans = collector.0.lock().unwrap().clone();
        let gateway = spans.iter().find(|span| {
            span.name == "http"
                && attribute(span, "route").as_deref() == Some("/api/v1/units/{code}")
        });
        if let Some(gateway) = gateway {
            let calls: Vec<&Span> = spans
                .iter()
                .filter(|span| span.name == "request" && span.trace_id == gateway.trace_id)
                .collect();
            if calls.len() >= 2 {
                found = Some((
                    gateway.clone(),
                    calls.into_iter().cloned().collect::<Vec<_>>(),
                ));
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (gateway, calls) = found.expect("the catalogue's spans join the gateway's trace");
    let rpcs: Vec<String> = calls
        .iter()
        .filter_map(|span| attribute(span, "rpc"))
        .collect();
    assert!(rpcs.iter().any(|rpc| rpc.ends_with("/GetUnit")), "{rpcs:?}");
    assert!(
        rpcs.iter().any(|rpc| rpc.ends_with("/GetAncestors")),
        "{rpcs:?}"
    );
    assert!(calls.iter().all(|span| !span.parent_span_id.is_empty()));
    assert!(
        gateway.parent_span_id.is_empty(),
        "the gateway starts the trace"
    );
}
