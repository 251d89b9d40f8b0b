//! Logging and tracing: human-readable lines by default, JSON with `--log-format json`,
//! filtered by `--log`; OpenTelemetry traces exported over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and no
//! exporter at all when it is not.
//!
//! Each RPC runs in a span named `rpc` carrying its `method`, `request_id`, `caller` (the
//! authenticated principal, filled in by the caller layer; never the key) and finally its
//! `grpc_status` and `latency_ms` (recorded when the call's line is logged or traces are
//! exported: the log layer formats a recorded field into text at once); it ends with one
//! "rpc finished" event carrying the code and the latency (see `observe`). With tracing on, the
//! span continues the caller's W3C trace (`traceparent`).

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::{propagation::TextMapPropagator as _, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tower_http::trace::MakeSpan;
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, fmt, prelude::*};

use crate::config::LogFormat;

/// The environment variables that turn trace export on.
const OTLP_ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

/// The service name traces carry unless `OTEL_SERVICE_NAME` says otherwise.
const SERVICE_NAME: &str = "crmd";

/// Whether spans are exported (so incoming trace context is worth reading).
static TRACING: AtomicBool = AtomicBool::new(false);

/// What [`init`] set up; [`Telemetry::shutdown`] flushes the traces not yet exported.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (a no-op without one).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // Shutting down blocks until the batch processor has exported; keep it off the runtime's
        // worker threads, which the exporter's connection needs.
        let outcome = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "flushing traces at shutdown failed"),
            Err(error) => tracing::warn!(%error, "flushing traces at shutdown failed"),
        }
    }
}

/// Installs the global subscriber, with an OTLP trace exporter when the environment names an
/// endpoint. Later calls (e.g. several servers in one test binary) keep the first subscriber.
/// Must be called within a Tokio runtime when exporting (the exporter's connection runs on it).
pub fn init(format: LogFormat, filter: &str) -> Telemetry {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = otlp_endpoint().and_then(|endpoint| match tracer_provider() {
        Ok(provider) => Some((provider, endpoint)),
        Err(error) => {
            eprintln!("crmd: traces are not exported: cannot set up the OTLP exporter: {error}");
            None
        }
    });
    let otel = provider
        .as_ref()
        .map(|(provider, _)| tracing_opentelemetry::layer().with_tracer(provider.tracer(SERVICE_NAME)));
    let logs = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init()
        .is_ok();
    match provider {
        Some((provider, endpoint)) if installed => {
            TRACING.store(true, Ordering::Relaxed);
            tracing::info!(%endpoint, "exporting traces over OTLP/gRPC");
            Telemetry {
                provider: Some(provider),
            }
        }
        Some((provider, _)) => {
            let _ = provider.shutdown();
            Telemetry::default()
        }
        None => Telemetry::default(),
    }
}

/// The configured OTLP endpoint, if any.
fn otlp_endpoint() -> Option<String> {
    OTLP_ENDPOINT_VARS
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
}

/// A tracer provider exporting in batches over OTLP/gRPC (the exporter reads the endpoint,
/// headers and timeout from the standard `OTEL_EXPORTER_OTLP_*` variables).
fn tracer_provider() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if let Ok(endpoint) = std::env::var(OTLP_ENDPOINT_VARS[1]) {
        builder = builder.with_endpoint(endpoint);
    }
    let exporter = builder.build()?;
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| SERVICE_NAME.to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build())
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Whether traces are exported (an OTLP endpoint was configured and the exporter installed).
pub(crate) fn exporting() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// Opens the `rpc` span of a request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RpcSpan;

impl<B> MakeSpan<B> for RpcSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let span = tracing::span!(
            Level::INFO,
            "rpc",
            method = %request.uri().path(),
            request_id = %crate::transport::request_id::of(request),
            caller = tracing::field::Empty,
            grpc_status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            otel.name = tracing::field::Empty,
        );
        // Only an exported trace reads the `otel.*` fields; recorded without an exporter they
        // would only be formatted into every span's log text, repeating `method`.
        if exporting() {
            span.record("otel.kind", "server");
            span.record("otel.name", request.uri().path().trim_start_matches('/'));
            let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
            let _ = span.set_parent(parent);
        }
        span
    }
}
