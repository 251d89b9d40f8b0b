//! The end of every RPC, seen once: a tower layer inside the `rpc` span that finds the call's
//! gRPC status where it travels — the response headers for a trailers-only answer (every unary
//! error), else the trailers after the last message — and then counts it in [`Metrics`],
//! records `grpc_status` and `latency_ms` on the span (when a log line or an exported trace will
//! show them) and logs one "rpc finished" event with the latency (at debug for OK, info for the
//! caller's mistakes, warn for the server's trouble).
//!
//! A call whose response is dropped before its status was sent (the client cancelled, or the
//! connection closed) is reported as CANCELLED.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use crm_api::code_name;
use http::HeaderMap;
use tonic::Code;
use tower::{Layer, Service};
use tracing::Span;

use crate::{
    metrics::{MethodLabels, Metrics},
    transport::body::{BodyGuard, GuardedBody},
};

/// Counts, times and logs every RPC; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The service [`ObserveLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// One call being served: reports itself exactly once, when finished or dropped.
#[derive(Debug)]
pub(crate) struct Completion {
    metrics: Arc<Metrics>,
    labels: MethodLabels,
    started: Instant,
    span: Span,
    done: bool,
}

impl Completion {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        self.metrics.finished(&self.labels, code, elapsed);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let ok = code == Code::Ok;
        let caller_side = is_caller_side(code);
        let code = code_name(code);
        // The log layer formats every field recorded on a span into text at once, whether or not
        // a line ever shows it: record the outcome only where something will read it (the
        // "rpc finished" line below, or an exported trace).
        if !ok || tracing::enabled!(tracing::Level::DEBUG) || crate::telemetry::exporting() {
            self.span.record("grpc_status", code);
            self.span.record("latency_ms", latency_ms);
        }
        let _entered = self.span.enter();
        // A line per successful call would cost more than many calls themselves (a tenth of a
        // GetCustomer, half of a health check): success is logged at debug, what the caller got
        // wrong at info, and what went wrong here at warn.
        if ok {
            tracing::debug!(code, latency_ms, "rpc finished");
        } else if caller_side {
            tracing::info!(code, latency_ms, "rpc finished");
        } else {
            tracing::warn!(code, latency_ms, "rpc finished");
        }
    }
}

/// Codes that answer the caller's own request and are no sign of trouble on the server.
fn is_caller_side(code: Code) -> bool {
    matches!(
        code,
        Code::Ok
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::Aborted
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Cancelled
    )
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

impl BodyGuard for Completion {
    fn on_trailers(&mut self, trailers: &HeaderMap) {
        self.finish(status_in(trailers).unwrap_or(Code::Unknown));
    }
}

/// The `grpc-status` in `headers`, if any.
pub(crate) fn status_in(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from_i32)
}

impl<S, B, ResBody> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody, Completion>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let labels = self.metrics.labels_of(request.uri().path());
        let span = Span::current();
        // Called before counting the request in flight: a request seen in flight has passed the
        // concurrency limit inside (its permit is taken in `call`).
        let future = self.inner.call(request);
        self.metrics.started();
        let mut completion = Completion {
            metrics: Arc::clone(&self.metrics),
            labels,
            started: Instant::now(),
            span,
            done: false,
        };
        Box::pin(async move {
            match future.await {
                Ok(response) => {
                    if let Some(code) = status_in(response.headers()) {
                        completion.finish(code);
                    }
                    Ok(response.map(|body| GuardedBody::new(body, completion)))
                }
                Err(error) => {
                    completion.finish(Code::Unknown);
                    Err(error)
                }
            }
        })
    }
}
