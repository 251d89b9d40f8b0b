//! Limits that keep an overloaded server answering: a global concurrency limit that sheds
//! excess requests at once, per-request deadlines, and a request body timeout. (The
//! per-principal limits are in `principal_limits`, applied by the authentication layer.)
//!
//! **Concurrency** ([`ConcurrencyLimitLayer`]): one semaphore shared by every connection. A
//! request that finds no permit is answered RESOURCE_EXHAUSTED at once (never queued), with a
//! `RetryInfo` and a `QuotaFailure` naming `global_concurrency`. The permit is held until the
//! response's last byte, so a server-streaming call counts for as long as it streams (tower's
//! `ConcurrencyLimit` would release it when the headers leave). Health checks are never shed: an
//! orchestrator probing a busy server must not conclude that it is dead and restart it.
//!
//! **Request bodies** ([`BodyTimeoutLayer`]): a request whose body has not ended within
//! `--request-body-timeout-secs` of its arrival ends with DEADLINE_EXCEEDED and gives back its
//! permits, so a client that opens calls and never finishes sending them holds its places for
//! seconds, not for the whole request timeout. The body itself fails with that status, which
//! tonic answers with (DEADLINE_EXCEEDED rather than CANCELLED: the server's clock ran out, and
//! tonic reads a CANCELLED request body as a clean end of the stream). Every request of this
//! service is one message, so its body ends before the handler starts.
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

use http_body::{Body, Frame, SizeHint};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::Status;
use tower::{BoxError, Layer, Service};

use crate::{
    metrics::{Limit, Metrics},
    transport::body::GuardedBody,
    transport::principal_limits::{CONCURRENCY_RETRY_DELAY, limit_reached},
};

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
    limit_reached(
        Limit::GlobalConcurrency,
        u32::try_from(limit).unwrap_or(u32::MAX),
        format!("the server is at its limit of {limit} concurrent requests from all callers"),
        CONCURRENCY_RETRY_DELAY,
    )
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

impl crate::transport::body::BodyGuard for Option<OwnedSemaphorePermit> {}

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

/// Ends requests whose body does not arrive in time; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct BodyTimeoutLayer {
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl BodyTimeoutLayer {
    /// Request bodies must end within `timeout` of the request's arrival.
    pub(crate) fn new(timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self { timeout, metrics }
    }
}

impl<S> Layer<S> for BodyTimeoutLayer {
    type Service = BodyTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyTimeout {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`BodyTimeoutLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct BodyTimeout<S> {
    inner: S,
    layer: BodyTimeoutLayer,
}

impl<S, B> Service<http::Request<B>> for BodyTimeout<S>
where
    S: Service<http::Request<TimedBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let deadline = Instant::now() + self.layer.timeout;
        let request = request.map(|body| TimedBody {
            inner: body,
            deadline,
            timeout: self.layer.timeout,
            sleep: None,
            state: TimedState::Receiving,
            metrics: Arc::clone(&self.layer.metrics),
        });
        self.inner.call(request)
    }
}

/// Whether a [`TimedBody`] is still being received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimedState {
    Receiving,
    Ended,
    TimedOut,
}

pin_project_lite::pin_project! {
    /// A request body that fails with DEADLINE_EXCEEDED when it has not ended by `deadline`.
    #[derive(Debug)]
    pub(crate) struct TimedBody<B> {
        #[pin]
        inner: B,
        deadline: Instant,
        timeout: Duration,
        // Created only when the body first waits: most bodies arrive in the request's first
        // frames and need no timer.
        sleep: Option<Pin<Box<Sleep>>>,
        state: TimedState,
        metrics: Arc<Metrics>,
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match *this.state {
            TimedState::TimedOut => return Poll::Ready(None),
            TimedState::Ended => return this.inner.poll_frame(cx).map_err(Into::into),
            TimedState::Receiving => {}
        }
        // A sender that has waited once and then trickles frames is checked on every frame.
        let late = this.sleep.as_ref().is_some_and(|sleep| sleep.is_elapsed());
        if !late {
            if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
                if frame.is_none() {
                    *this.state = TimedState::Ended;
                    *this.sleep = None;
                }
                return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
            }
            let deadline = *this.deadline;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            std::task::ready!(sleep.as_mut().poll(cx));
        }
        *this.state = TimedState::TimedOut;
        *this.sleep = None;
        this.metrics.limited(Limit::RequestBodyTimeout);
        tracing::info!(
            timeout_ms = this.timeout.as_millis(),
            "request body timeout: the request did not arrive whole in time"
        );
        let status = Status::deadline_exceeded(format!(
            "the request message did not arrive whole within the request body timeout of {} ms",
            this.timeout.as_millis()
        ));
        Poll::Ready(Some(Err(Box::new(status))))
    }

    fn is_end_stream(&self) -> bool {
        self.state == TimedState::TimedOut || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
