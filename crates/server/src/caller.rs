//! The caller seam: a tower layer in front of every service that establishes who is calling and
//! attaches a typed [`Caller`] to the request. Handlers read it with [`caller_of`].
//!
//! Access control is not built yet, so every request is attached [`Caller::Anonymous`]. The
//! authentication issue replaces the body of [`CallerService::call`] with the API key check;
//! nothing else needs to move.

use std::task::{Context, Poll};

use crm_domain::caller::Caller;
use tonic::Status;
use tower::{Layer, Service};

/// Attaches the request's [`Caller`] to its extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallerLayer;

impl<S> Layer<S> for CallerLayer {
    type Service = CallerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerService { inner }
    }
}

/// The service [`CallerLayer`] wraps around each gRPC service.
#[derive(Debug, Clone)]
pub struct CallerService<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for CallerService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let caller = Caller::Anonymous;
        tracing::Span::current().record("caller", caller.describe());
        request.extensions_mut().insert(caller);
        self.inner.call(request)
    }
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
        .ok_or_else(|| Status::unauthenticated("no caller could be established"))
}
