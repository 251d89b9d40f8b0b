//! Graceful shutdown in two steps: first the calls, then the connections.
//!
//! On SIGTERM the server first **drains calls** ([`Drain::start`]): new calls are answered
//! UNAVAILABLE at once ("shutting down", retry elsewhere), health says NOT_SERVING, and the calls
//! in flight run to their end ([`Drain::idle`]). Only then does tonic's graceful shutdown send
//! HTTP/2 GOAWAY and close the connections, which now carry no call.
//!
//! Why not let GOAWAY come first: h2 (0.4.20 and 0.4.21, the latest) ignores the HEADERS of a
//! stream above the last stream id of its final GOAWAY, but treats a WINDOW_UPDATE on such a
//! stream as a connection error and resets the connection with PROTOCOL_ERROR, failing every call
//! still in flight on it. Clients that open a stream just then and grant it flow-control credit
//! at once (gRPC C-core does) made about one shutdown in twenty fail calls the server had
//! accepted. With calls drained first, that reset can only meet calls that were refused anyway.
//!
//! Health and reflection are not refused (a probe must learn NOT_SERVING); their calls are
//! waited for like any other, except health `Watch`, a stream that never ends by itself.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use tokio::sync::Notify;
use tower::{Layer, Service};

use crate::transport::body::{BodyGuard, GuardedBody};

/// Paths never refused while draining.
const NEVER_REFUSED: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The one path not waited for: it streams until the client goes away.
const NOT_WAITED_FOR: &str = "/grpc.health.v1.Health/Watch";

/// Calls in flight, and whether the server is draining them.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Drain {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Refuses new calls from now on.
    pub(crate) fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Completes once no call is in flight (after [`Drain::start`], no new one begins).
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One call in flight, until its response's last frame (or its drop).
#[derive(Debug)]
pub(crate) struct InFlight(Option<Arc<Drain>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(drain) = self.0.take()
            && drain.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
        {
            drain.idle.notify_waiters();
        }
    }
}

impl BodyGuard for InFlight {}

/// Counts calls in flight and refuses new ones while draining; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct DrainLayer {
    drain: Arc<Drain>,
}

impl DrainLayer {
    pub(crate) fn new(drain: Arc<Drain>) -> Self {
        Self { drain }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = DrainService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DrainService {
            inner,
            drain: Arc::clone(&self.drain),
        }
    }
}

/// The service [`DrainLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct DrainService<S> {
    inner: S,
    drain: Arc<Drain>,
}

impl<S, B, ResBody> Service<http::Request<B>> for DrainService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody, InFlight>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let guard = if path == NOT_WAITED_FOR {
            InFlight(None)
        } else {
            // Count first, then look: a call counted before `start` is waited for, one that
            // sees `draining` is refused and uncounted at once.
            self.drain.in_flight.fetch_add(1, Ordering::SeqCst);
            InFlight(Some(Arc::clone(&self.drain)))
        };
        if self.drain.draining.load(Ordering::SeqCst) && !NEVER_REFUSED.iter().any(|p| path.starts_with(p)) {
            drop(guard);
            let response = crate::status::unavailable(
                "the server is shutting down; retry (another replica, or this one once restarted, will answer)",
                std::time::Duration::ZERO,
            )
            .into_http::<ResBody>()
            .map(|body| GuardedBody::new(body, InFlight(None)));
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| GuardedBody::new(body, guard)))
        })
    }
}
