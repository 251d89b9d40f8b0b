//! The connections crmd accepts, and how long it keeps them.
//!
//! - **A cap** ([`ConnectionLimits::max_connections`]): a connection beyond it is accepted and
//!   closed at once (the client sees UNAVAILABLE and can go elsewhere), so the process never runs
//!   out of file descriptors for its database pools and its own files. By default the cap is the
//!   process's descriptor limit less what the rest of crmd needs ([`default_max_connections`]);
//!   at start crmd raises its soft descriptor limit to the hard one.
//! - **An accept loop that backs off** when the process is out of descriptors anyway (EMFILE,
//!   ENFILE, ENOBUFS, ENOMEM): it waits 10 ms, doubling to 1 s, instead of retrying at once
//!   (tonic's own loop retries at once and spins a core while nobody can connect).
//! - **A handshake deadline** ([`ConnectionLimits::handshake_timeout`]): a connection that sends
//!   nothing is closed when it passes, so idle sockets cannot pile up.
//! - **An idle timeout** ([`ConnectionLimits::idle_timeout`]): a connection with no call in
//!   flight for that long is closed. A client's channel reconnects by itself on its next call.
//!   HTTP/2 keepalive pings (set on the server in `lib.rs`) find peers that vanished while calls
//!   were open.
//!
//! The accepted [`Connection`] carries a [`ConnectionInfo`] into every request's extensions (as
//! tonic does with its `TcpConnectInfo`); [`ConnectionCallsLayer`] counts the calls of each
//! connection with it, so the connection knows when it is idle.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, task::AtomicWaker};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::Connected;
use tower::{Layer, Service};

use crate::{
    metrics::Metrics,
    transport::body::{BodyGuard, GuardedBody},
};

/// The first wait after the process ran out of descriptors; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two accepts while the process is out of descriptors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The fewest connections the default cap allows, however low the descriptor limit.
const MIN_CONNECTIONS: usize = 16;

/// How many connections crmd keeps, and for how long; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// At most this many client connections at once (at least one).
    pub(crate) max_connections: usize,
    /// A new connection must send its first bytes within this.
    pub(crate) handshake_timeout: Duration,
    /// A connection with no call in flight for this long is closed; `None`: never.
    pub(crate) idle_timeout: Option<Duration>,
}

/// The process's file-descriptor limit after raising the soft limit to the hard one (`None`:
/// unlimited or unknown). Call once at start.
pub(crate) fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            },
        )
        .is_ok()
    {
        return Some(maximum);
    }
    limit.current
}

/// The default cap: the descriptor limit less `reserved` for everything else (database pools,
/// listeners, files), and at least [`MIN_CONNECTIONS`]; 65,536 when the limit is unknown.
pub(crate) fn default_max_connections(descriptor_limit: Option<u64>, reserved: usize) -> usize {
    descriptor_limit.map_or(65_536, |limit| {
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(reserved)
            .max(MIN_CONNECTIONS)
    })
}

/// The accepted connections of `listener`, within `limits`; see the module documentation. The
/// stream never yields an error (tonic would only skip it) and ends never.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = Result<Connection, io::Error>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    futures::stream::unfold(
        (listener, slots, metrics),
        move |(listener, slots, metrics)| async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                            // Closed at once: the client learns now, not at its deadline.
                            drop(stream);
                            metrics.connection_refused();
                            tracing::debug!(%peer, "connection refused: the connection cap is reached");
                            continue;
                        };
                        // Without it, Nagle's algorithm holds back the last segment of a multi-write
                        // response until the client's delayed ACK (~40 ms).
                        if let Err(error) = stream.set_nodelay(true) {
                            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                        }
                        let connection = Connection::new(stream, peer, slot, limits, Arc::clone(&metrics));
                        return Some((Ok(connection), (listener, slots, metrics)));
                    }
                    Err(error) if out_of_descriptors(&error) => {
                        metrics.accept_backoff();
                        tracing::warn!(
                            %error,
                            wait_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                            "cannot accept a connection: out of file descriptors; raise `ulimit -n` or lower --max-connections"
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    // A connection reset before it was accepted, and the like: the next one is fine.
                    Err(error) => tracing::debug!(%error, "accept failed"),
                }
            }
        },
    )
}

/// Whether an accept failed for want of descriptors or memory (retrying at once cannot help).
fn out_of_descriptors(error: &io::Error) -> bool {
    use rustix::io::Errno;
    error.raw_os_error().is_some_and(|code| {
        let errno = Errno::from_raw_os_error(code);
        errno == Errno::MFILE || errno == Errno::NFILE || errno == Errno::NOBUFS || errno == Errno::NOMEM
    })
}

/// What one connection shares with the requests it carries.
#[derive(Debug)]
struct Activity {
    /// Calls in flight on the connection.
    calls: AtomicUsize,
    /// Bumped when the last call in flight ends: the idle clock starts over from then.
    quiet_since: AtomicUsize,
    /// The connection's reader, woken when the last call ends so it can start its idle clock.
    reader: AtomicWaker,
}

/// The connect info of a [`Connection`], in every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    activity: Arc<Activity>,
}

/// Why a connection was closed by its own deadline.
#[derive(Debug, Clone, Copy)]
enum Expiry {
    Handshake,
    Idle,
}

/// An accepted TCP connection holding its slot under the cap, closed (its reads fail with
/// `TimedOut`, which ends hyper's connection) when it sends nothing before the handshake
/// deadline or carries no call for the idle timeout.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    info: ConnectionInfo,
    /// See [`ConnectionLimits::idle_timeout`].
    idle_timeout: Option<Duration>,
    metrics: Arc<Metrics>,
    /// Whether the client has sent anything yet.
    greeted: bool,
    /// The `quiet_since` the armed idle deadline counts from (`None`: not armed).
    idle_armed: Option<usize>,
    _slot: Slot,
}

/// A connection's place under the cap, given back (and counted) when it closes.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

impl Connection {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.connection_opened();
        let slot = Slot {
            _permit: slot,
            metrics: Arc::clone(&metrics),
        };
        Self {
            stream,
            deadline: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
            info: ConnectionInfo {
                peer,
                activity: Arc::new(Activity {
                    calls: AtomicUsize::new(0),
                    quiet_since: AtomicUsize::new(0),
                    reader: AtomicWaker::new(),
                }),
            },
            idle_timeout: limits.idle_timeout,
            metrics,
            greeted: false,
            idle_armed: None,
            _slot: slot,
        }
    }
}

impl Connection {
    /// Called when a read is pending: whether the connection's deadline has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        if !self.greeted {
            return self.deadline.as_mut().poll(cx).is_ready().then_some(Expiry::Handshake);
        }
        let idle_timeout = self.idle_timeout?;
        let activity = &self.info.activity;
        activity.reader.register(cx.waker());
        let quiet_since = activity.quiet_since.load(Ordering::Acquire);
        if activity.calls.load(Ordering::Acquire) > 0 {
            self.idle_armed = None;
            return None;
        }
        if self.idle_armed != Some(quiet_since) {
            self.deadline.as_mut().reset(Instant::now() + idle_timeout);
            self.idle_armed = Some(quiet_since);
        }
        self.deadline.as_mut().poll(cx).is_ready().then_some(Expiry::Idle)
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.greeted = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.expired(cx) {
                None => Poll::Pending,
                Some(expiry) => {
                    let (reason, message) = match expiry {
                        Expiry::Handshake => (
                            "handshake_timeout",
                            "the client sent nothing before the handshake deadline",
                        ),
                        Expiry::Idle => ("idle_timeout", "the connection carried no call for the idle timeout"),
                    };
                    this.metrics.connection_expired(reason);
                    tracing::debug!(peer = %this.info.peer, reason, "closing the connection");
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)))
                }
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

/// One call on a connection, until its response's last frame (or its drop).
#[derive(Debug)]
pub(crate) struct ConnectionCall(Arc<Activity>);

impl ConnectionCall {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.calls.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for ConnectionCall {
    fn drop(&mut self) {
        if self.0.calls.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.quiet_since.fetch_add(1, Ordering::AcqRel);
            self.0.reader.wake();
        }
    }
}

/// Counts the calls in flight on each connection (see [`Connection`]'s idle timeout).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectionCallsLayer;

impl<S> Layer<S> for ConnectionCallsLayer {
    type Service = ConnectionCalls<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectionCalls { inner }
    }
}

/// The service [`ConnectionCallsLayer`] wraps.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionCalls<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for ConnectionCalls<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody, Option<ConnectionCall>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| ConnectionCall::start(&info.activity));
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| GuardedBody::new(body, call)))
        })
    }
}

impl BodyGuard for Option<ConnectionCall> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_the_reserve_and_never_falls_below_the_minimum() {
        assert_eq!(default_max_connections(Some(1024), 100), 924);
        assert_eq!(default_max_connections(Some(64), 100), MIN_CONNECTIONS);
        assert_eq!(default_max_connections(None, 100), 65_536);
    }

    #[test]
    fn running_out_of_descriptors_is_told_from_other_accept_errors() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(24))); // EMFILE
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(23))); // ENFILE
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(103))); // ECONNABORTED
        assert!(!out_of_descriptors(&io::Error::other("not an OS error")));
    }
}
