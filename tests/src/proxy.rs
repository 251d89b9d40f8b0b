//! A TCP proxy the test controls, put between `crmd` and a database server to make the database
//! go away and come back: [`FaultProxy::stop`] closes every connection and refuses new ones (as
//! a stopped server does), [`FaultProxy::freeze`] keeps the connections open but forwards
//! nothing (as a server stopped with SIGSTOP: no error, only silence), [`FaultProxy::resume`]
//! serves again on the same port.
//!
//! A proxy rather than a cluster of its own (`initdb` + `pg_ctl`): `initdb` refuses to run as
//! root, where CI runs, and a proxy freezes a server without signalling processes it does not
//! own. To the service the effect is the same: its connections break or go silent, and new
//! ones are refused.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Mutex, watch},
    task::JoinSet,
};

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Forward,
    /// Forwards nothing; connections stay open.
    Frozen,
}

/// A controllable proxy to `upstream`; see the module documentation. Dropping it closes
/// everything.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    /// The accept loop and every connection's pumps; `None` while stopped.
    tasks: Mutex<Option<JoinSet<()>>>,
}

impl FaultProxy {
    /// A proxy on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = Arc::new(Self {
            addr,
            upstream,
            mode: watch::Sender::new(Mode::Forward),
            tasks: Mutex::new(None),
        });
        proxy.serve(listener).await;
        proxy
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let upstream = self.upstream;
        let mode = self.mode.subscribe();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mode = mode.clone();
                connections.spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, mode.clone()),
                        pump(server_read, client_write, mode),
                    );
                });
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
            // Dropping `connections` (when this task is aborted) closes every socket.
        });
        *self.tasks.lock().await = Some(tasks);
    }

    /// Closes every connection and refuses new ones, like a stopped server.
    pub async fn stop(&self) {
        if let Some(mut tasks) = self.tasks.lock().await.take() {
            tasks.shutdown().await;
        }
    }

    /// Forwards nothing more, keeping the connections open, like a frozen server.
    pub fn freeze(&self) {
        self.mode.send_replace(Mode::Frozen);
    }

    /// Serves again: after [`FaultProxy::stop`] accepts on the same port again, after
    /// [`FaultProxy::freeze`] forwards what waited.
    pub async fn resume(&self) {
        self.mode.send_replace(Mode::Forward);
        if self.tasks.lock().await.is_some() {
            return;
        }
        // The port was just released; binding it again may take a moment on a busy machine.
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(error) => {
                    attempts += 1;
                    assert!(
                        attempts < 100,
                        "cannot bind the proxy's port {} again: {error}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener).await;
    }
}

/// Copies `from` to `to` while the mode is [`Mode::Forward`], holding data back while frozen.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if mode.wait_for(|m| *m == Mode::Forward).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(read) => read,
        };
        // A freeze that began while this read waited holds the data back.
        if mode.wait_for(|m| *m == Mode::Forward).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
