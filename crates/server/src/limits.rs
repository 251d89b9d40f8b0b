//! Limits that keep an overloaded server answering: a global concurrency limit that sheds
//! excess requests at once, and per-request deadlines.
//!
//! **Concurrency** ([`ConcurrencyLimitLayer`]): one semaphore shared by every connection. A
//! request that finds no permit is answered RESOURCE_EXHAUSTED at once (never queued), telling
//! the caller to retry with backoff. The permit is held until the response's last byte, so a
//! server-streaming call counts for as long as it streams (tower's `ConcurrencyLimit` would
//! release it when the headers leave). Health checks are never shed: an orchestrator probing
//! a busy server must not conclude that it is dead and restart it.
//!
//! **Deadlines** ([`DeadlineLayer`]): the caller's `grpc-timeout` or the server's
//! `--request-timeout-secs`, whichever is shorter. When it passes before the handler answers,
//! the call ends with DEADLINE_EXCEEDED, as the gRPC spec says (tonic's own timeout answers
//! CANCELLED; this layer sits inside it and, having started its clock first, fires first).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tower::{Layer, Service};

use crate::{body::GuardedBody, metrics::Metrics};

/// Paths never refused by the concurrency limit.
const UNLIMITED_PATHS: &[&str] = &["/grpc.health.v1.Health/"];

/// Sheds requests beyond a global number in flight; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct ConcurrencyLimitLayer {
    permits: Arc<Semaphore>,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl ConcurrencyLimitLayer {
    /// At most `limit` requests at once across every connection (at least one).
    pub(crate) fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            metrics,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ConcurrencyLimitLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct ConcurrencyLimit<S> {
    inner: S,
    layer: ConcurrencyLimitLayer,
}

/// The answer to a request beyond the limit.
fn overloaded(limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "the server is at its limit of {limit} concurrent requests; retry with exponential backoff"
    ))
}

impl<S, B, ResBody> Service<http::Request<B>> for ConcurrencyLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody, Option<OwnedSemaphorePermit>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let permit = if UNLIMITED_PATHS.iter().any(|p| path.starts_with(p)) {
            None
        } else {
            match Arc::clone(&self.layer.permits).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.layer.metrics.shed();
                    // Debug only: the call's "rpc finished" line (a warning) already reports it,
                    // and an overloaded server should not write two lines per refusal.
                    tracing::debug!(
                        limit = self.layer.limit,
                        "request shed: the concurrency limit is reached"
                    );
                    let response = overloaded(self.layer.limit)
                        .into_http::<ResBody>()
                        .map(|body| GuardedBody::new(body, None));
                    return Box::pin(async move { Ok(response) });
                }
            }
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| GuardedBody::new(body, permit)))
        })
    }
}

impl crate::body::BodyGuard for Option<OwnedSemaphorePermit> {}

/// Ends calls that outlive their deadline with DEADLINE_EXCEEDED; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineLayer {
    server_timeout: Duration,
}

impl DeadlineLayer {
    /// Calls last at most `server_timeout`, or the caller's shorter `grpc-timeout`.
    pub(crate) fn new(server_timeout: Duration) -> Self {
        Self { server_timeout }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            server_timeout: self.server_timeout,
        }
    }
}

/// The service [`DeadlineLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    server_timeout: Duration,
}

impl<S, B, ResBody> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(self.server_timeout, |caller| caller.min(self.server_timeout));
        // The clock starts here, before the inner call, so that it runs out no later than tonic's.
        let sleep = tokio::time::sleep(timeout);
        let future = self.inner.call(request);
        Box::pin(async move {
            tokio::select! {
                biased;
                response = future => response,
                () = sleep => {
                    tracing::info!(timeout_ms = timeout.as_millis(), "deadline exceeded");
                    Ok(Status::deadline_exceeded(format!(
                        "the call did not finish within its deadline of {} ms",
                        timeout.as_millis()
                    ))
                    .into_http::<ResBody>())
                }
            }
        })
    }
}

/// A `grpc-timeout` value: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for bad in ["", "S", "5", "5s", "-5S", "123456789S", "1.5S", "5 S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
