//! A response body that carries a guard for as long as the response is being sent: the guard
//! sees the trailers (where a gRPC call that sent headers reports its status) and is dropped
//! when the body ends or is dropped (the client went away). The observer and the concurrency
//! limit use it, so a server-streaming call counts until its last message, not until its headers.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// What a [`GuardedBody`] tells its guard.
pub(crate) trait BodyGuard: Send + 'static {
    /// The body is sending its trailers.
    fn on_trailers(&mut self, _trailers: &HeaderMap) {}
}

pin_project_lite::pin_project! {
    /// `inner` with `guard` alive until the body's end (or drop).
    #[derive(Debug)]
    pub(crate) struct GuardedBody<B, G> {
        #[pin]
        inner: B,
        guard: Option<G>,
    }
}

impl<B, G> GuardedBody<B, G> {
    /// Holds `guard` until `inner` ends.
    pub(crate) fn new(inner: B, guard: G) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B: Default, G> Default for GuardedBody<B, G> {
    /// An empty body guarding nothing (what a layer outside answers with itself).
    fn default() -> Self {
        Self {
            inner: B::default(),
            guard: None,
        }
    }
}

impl<B, G> Body for GuardedBody<B, G>
where
    B: Body,
    G: BodyGuard,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll_frame(cx));
        match &result {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(guard) = this.guard.as_mut() {
                        guard.on_trailers(trailers);
                    }
                    // Trailers are the last frame of a gRPC response.
                    *this.guard = None;
                }
            }
            Some(Err(_)) | None => *this.guard = None,
        }
        Poll::Ready(result)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
