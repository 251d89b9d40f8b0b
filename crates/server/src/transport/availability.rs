//! Whether the database can be used, and failing fast while it cannot.
//!
//! **Knowing** ([`watch`]): one task pings the database (`SELECT 1`) over a connection of its
//! own, outside the request pool, so a pool exhausted by requests never looks like an outage.
//! It pings every `--health-check-interval-secs`, and at once when a call has just ended
//! UNAVAILABLE because of the database. A ping that fails or does not answer within
//! [`PING_TIMEOUT`] (a stopped server refuses, a frozen one is silent) marks the database down:
//! health says NOT_SERVING; the next ping that succeeds marks it up again and health says
//! SERVING, without a restart.
//!
//! **Failing fast** ([`StorageGateLayer`]): while the database is known to be down, a call that
//! needs it is answered UNAVAILABLE with a `RetryInfo` at once instead of waiting for the pool's
//! acquire timeout, and calls in flight at the moment it goes down end UNAVAILABLE too instead of
//! hanging on a silent server until their deadline (dropping them rolls their transactions
//! back). Calls served from memory (`WhoAmI`, `CheckPermission`, `BatchCheckPermissions`),
//! health and reflection go on as usual. Before the outage is known, the calls that meet it
//! end UNAVAILABLE as the persistence adapter reports it (a broken connection, the pool's
//! acquire timeout), and their end triggers the next ping.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use crm_persistence::Database;
use tokio::sync::{Notify, watch};
use tonic::Code;
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Layer, Service};

use crate::{
    status::unavailable,
    transport::body::{BodyGuard, GuardedBody},
};

/// How long a ping may take before the database counts as down.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The least time between two pings that calls asked for (a burst of failing calls costs one).
const MIN_RECHECK_GAP: Duration = Duration::from_millis(200);

/// Paths that never need the database: served whatever its state.
const WITHOUT_STORAGE: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/crm.v1.AccessService/WhoAmI",
    "/crm.v1.AccessService/CheckPermission",
    "/crm.v1.AccessService/BatchCheckPermissions",
];

/// The database's state as last seen by [`watch`], shared with the gate.
#[derive(Debug)]
pub(crate) struct StorageState {
    /// `true` while the database answers.
    up: watch::Sender<bool>,
    /// Asks the watcher for a ping now.
    recheck: Notify,
    /// What a refused caller is told to wait: the time until the next ping.
    retry_after: Duration,
}

impl StorageState {
    /// A state that starts up (the server has just connected); refused callers are told to
    /// retry after `retry_after`.
    pub(crate) fn new(retry_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            up: watch::Sender::new(true),
            recheck: Notify::new(),
            retry_after,
        })
    }

    /// Whether the database answered the last ping.
    pub(crate) fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Pings the database over `probe` (a pool of its own) every `every`, and when a call asks for
/// it; reports the result to `state` and `health` whenever it changes.
pub(crate) async fn watch(probe: Database, health: HealthReporter, state: Arc<StorageState>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = state.recheck.notified() => {}
        }
        let started = Instant::now();
        let reachable = tokio::time::timeout(PING_TIMEOUT, probe.is_reachable())
            .await
            .unwrap_or(false);
        if reachable != state.is_up() {
            state.set(reachable);
            if reachable {
                tracing::info!("database reachable again; health is SERVING");
                crate::set_health(&health, ServingStatus::Serving).await;
            } else {
                tracing::error!(
                    database = probe.display_url(),
                    timeout_ms = PING_TIMEOUT.as_millis(),
                    "database unreachable (no answer to a ping); health is NOT_SERVING and calls that need it \
                     are answered UNAVAILABLE"
                );
                crate::set_health(&health, ServingStatus::NotServing).await;
            }
        }
        tokio::time::sleep(MIN_RECHECK_GAP.saturating_sub(started.elapsed())).await;
    }
}

/// Answers UNAVAILABLE at once while the database is down; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct StorageGateLayer {
    state: Arc<StorageState>,
}

impl StorageGateLayer {
    pub(crate) fn new(state: Arc<StorageState>) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for StorageGateLayer {
    type Service = StorageGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StorageGate {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// The service [`StorageGateLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct StorageGate<S> {
    inner: S,
    state: Arc<StorageState>,
}

/// The answer while the database is down.
fn storage_down(retry_after: Duration) -> tonic::Status {
    unavailable(
        "the service cannot reach its storage right now; nothing was changed, retry after the delay in RetryInfo",
        retry_after,
    )
}

/// Asks the watcher for a ping when the response it guards ends UNAVAILABLE.
#[derive(Debug)]
pub(crate) struct RecheckOnUnavailable(Option<Arc<StorageState>>);

impl RecheckOnUnavailable {
    fn check(&self, headers: &http::HeaderMap) {
        if let Some(state) = &self.0
            && headers
                .get("grpc-status")
                .is_some_and(|status| status.as_bytes() == (Code::Unavailable as i32).to_string().as_bytes())
        {
            state.recheck.notify_one();
        }
    }
}

impl BodyGuard for RecheckOnUnavailable {
    fn on_trailers(&mut self, trailers: &http::HeaderMap) {
        self.check(trailers);
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for StorageGate<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody, RecheckOnUnavailable>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if WITHOUT_STORAGE.iter().any(|p| path.starts_with(p)) {
            let future = self.inner.call(request);
            return Box::pin(async move {
                Ok(future
                    .await?
                    .map(|body| GuardedBody::new(body, RecheckOnUnavailable(None))))
            });
        }
        let retry_after = self.state.retry_after;
        let refused = move || {
            storage_down(retry_after)
                .into_http::<ResBody>()
                .map(|body| GuardedBody::new(body, RecheckOnUnavailable(None)))
        };
        if !self.state.is_up() {
            tracing::debug!("request refused: the database is down");
            let response = refused();
            return Box::pin(async move { Ok(response) });
        }
        let mut up = self.state.up.subscribe();
        let state = Arc::clone(&self.state);
        let future = self.inner.call(request);
        Box::pin(async move {
            tokio::select! {
                biased;
                response = future => {
                    let response = response?;
                    let guard = RecheckOnUnavailable(Some(state));
                    // A trailers-only answer (every error) carries its status in the headers.
                    guard.check(response.headers());
                    Ok(response.map(|body| GuardedBody::new(body, guard)))
                }
                _ = up.wait_for(|up| !*up) => {
                    tracing::info!("call ended: the database went down while it was in flight");
                    Ok(refused())
                }
            }
        })
    }
}
