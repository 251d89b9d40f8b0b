//! Authentication: a tower layer in front of every service that turns the request's
//! `authorization: Bearer <key>` into a typed [`Caller`] and attaches it to the request, or
//! answers UNAUTHENTICATED itself. Handlers read the caller with [`caller_of`].
//!
//! Health and reflection are the only methods served without a key. Every failure (no header,
//! a malformed, unknown, revoked or expired key, a missing or disabled principal) gets the same
//! answer, so a caller learns nothing about which it was; the log says which prefix was tried.
//! The check reads only the in-memory [`AccessState`]: no query per request. Refusals go to the
//! audit log through a [`RefusalAudit`], which rate-limits them and never waits.
//!
//! Once the caller is known, the layer applies its per-principal limits (see
//! `principal_limits`): a call over one is answered RESOURCE_EXHAUSTED here, before it takes a
//! place in the global limit; an admitted call counts against its principal until its response's
//! last frame, and carries its effective limits to the handler (WhoAmI reports them).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use crm_api::crm::v1::ErrorReason;
use crm_domain::caller::Caller;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};
use tower::{Layer, Service};

use crate::{
    access::api_key::ApiKey,
    access::state::AccessState,
    audit::RefusalAudit,
    status::ERROR_DOMAIN,
    status::reason_text,
    transport::body::GuardedBody,
    transport::principal_limits::{PrincipalLimiter, PrincipalSlot},
};

/// Path prefixes of the methods served without authentication.
const PUBLIC_PATHS: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Authenticates every request against the access state and attaches its [`Caller`].
#[derive(Debug, Clone)]
pub(crate) struct CallerLayer {
    state: Arc<AccessState>,
    refusals: Option<RefusalAudit>,
    limits: Option<Arc<PrincipalLimiter>>,
}

impl CallerLayer {
    pub(crate) fn new(state: Arc<AccessState>) -> Self {
        Self {
            state,
            refusals: None,
            limits: None,
        }
    }

    /// Holds every authenticated caller to its per-principal limits.
    pub(crate) fn limiting(self, limits: Arc<PrincipalLimiter>) -> Self {
        Self {
            limits: Some(limits),
            ..self
        }
    }

    /// Records the requests it refuses with `refusals`.
    pub(crate) fn recording_refusals(self, refusals: RefusalAudit) -> Self {
        Self {
            refusals: Some(refusals),
            ..self
        }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = CallerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerService {
            inner,
            state: Arc::clone(&self.state),
            refusals: self.refusals.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// The service [`CallerLayer`] wraps around each gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct CallerService<S> {
    inner: S,
    state: Arc<AccessState>,
    refusals: Option<RefusalAudit>,
    limits: Option<Arc<PrincipalLimiter>>,
}

/// An answer the layer gives itself, holding nothing.
fn answer<ResBody: Default>(status: Status) -> SlotResponse<ResBody> {
    status
        .into_http::<ResBody>()
        .map(|body| GuardedBody::new(body, PrincipalSlot::none()))
}

/// The answer to every request that does not authenticate.
pub(crate) fn unauthenticated() -> Status {
    Status::with_error_details(
        Code::Unauthenticated,
        "missing or invalid API key: send `authorization: Bearer <key>` with a valid, unrevoked, unexpired key \
         of an enabled principal",
        ErrorDetails::with_error_info(reason_text(ErrorReason::Unauthenticated), ERROR_DOMAIN, HashMap::new()),
    )
}

impl<S, B, ResBody> Service<http::Request<B>> for CallerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = SlotResponse<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if PUBLIC_PATHS.iter().any(|public| path.starts_with(public)) {
            // No caller, so no per-principal limit.
            return guarded(self.inner.call(request), PrincipalSlot::none());
        }
        let presented = ApiKey::from_authorization(
            request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok()),
        );
        let view = self.state.view();
        let now = chrono::Utc::now();
        let caller = presented.as_ref().and_then(|key| view.authenticate(key, now));
        let Some(caller) = caller else {
            tracing::warn!(
                key_prefix = presented.as_ref().map(|key| key.prefix.as_str()),
                "request refused: not authenticated"
            );
            if let Some(refusals) = &self.refusals {
                refusals.refused(path, presented.as_ref().map(|key| key.prefix.as_str()));
            }
            let response = answer(unauthenticated());
            return Box::pin(async move { Ok(response) });
        };
        tracing::Span::current().record("caller", tracing::field::display(&caller));
        let slot = match &self.limits {
            None => PrincipalSlot::none(),
            Some(limiter) => {
                let limits = limiter.effective(&view.snapshot, &caller.principal, now);
                match limiter.admit(&caller.principal, &limits) {
                    Ok(slot) => {
                        request.extensions_mut().insert(limits);
                        slot
                    }
                    Err(refused) => {
                        let response = answer(refused);
                        return Box::pin(async move { Ok(response) });
                    }
                }
            }
        };
        drop(view);
        request.extensions_mut().insert(caller);
        guarded(self.inner.call(request), slot)
    }
}

/// A response whose body holds the caller's [`PrincipalSlot`].
type SlotResponse<ResBody> = http::Response<GuardedBody<ResBody, PrincipalSlot>>;

/// `future`'s response with `slot` held until the end of its body (or dropped with the future,
/// when the call is abandoned before it answers).
fn guarded<F, ResBody, E>(
    future: F,
    slot: PrincipalSlot,
) -> Pin<Box<dyn Future<Output = Result<SlotResponse<ResBody>, E>> + Send>>
where
    F: Future<Output = Result<http::Response<ResBody>, E>> + Send + 'static,
    ResBody: Send + 'static,
{
    Box::pin(async move {
        let response = future.await?;
        Ok(response.map(|body| GuardedBody::new(body, slot)))
    })
}

/// The caller the layer attached to `request`.
///
/// # Errors
/// UNAUTHENTICATED if no caller is attached (the layer is missing: a wiring bug, never a
/// silent "allow").
pub(crate) fn caller_of<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(unauthenticated)
}
