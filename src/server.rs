//! The HTTP accept loop, with the connection-level limits `axum::serve` lacks.
//!
//! `axum::serve` runs hyper without a timer, so a client that sends half a request line
//! and then stalls keeps its connection (and its socket, task and buffers) for as long as
//! it likes, and idle keep-alive connections are never closed. That makes the hub easy
//! to exhaust with a few thousand slow sockets (OWASP API4). This loop adds:
//!
//! * a header read timeout: a fresh connection, or a keep-alive connection on which the
//!   first byte of a new request has arrived, must complete the request head within
//!   `header_read_timeout`, or it is closed without a response;
//! * an idle timeout: a keep-alive connection with no request in flight and no new request
//!   started is closed after `idle_timeout`;
//! * a cap on open connections: at the cap the loop stops accepting, so further
//!   connections wait in the kernel's accept backlog until a slot frees;
//! * graceful shutdown with a bounded drain.
//!
//! hyper's own http1 `header_read_timeout` starts whenever hyper begins waiting for a
//! request head, which includes the wait between keep-alive requests, so on its own it
//! would close every idle connection at the header timeout and leave no room for a
//! separate, longer idle timeout. The split above is therefore enforced by a small
//! per-connection watchdog that sees bytes arrive (I/O wrapper) and requests start and
//! finish (service wrapper); hyper's timer stays armed as a backstop at the sum of both.

use crate::members::certs::PresentedChain;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connection-level limits of the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// From connect (or from the first byte of a later request on a keep-alive
    /// connection) to a complete request head.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request in flight.
    pub idle_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// After shutdown is requested, how long in-flight requests may take to finish
    /// before their connections are closed anyway.
    pub drain_timeout: Duration,
}

/// Pause after an accept error that is about the process rather than one connection
/// (out of file descriptors or memory), so the loop does not spin while it lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves or the listener fails, then stops
/// accepting, lets in-flight requests finish (up to `limits.drain_timeout`) and returns.
/// Each request carries the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_app_tls(listener, app, limits, None, shutdown).await
}

/// Marks a request that arrived over TLS terminated by this server.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The certificate a client presented in the TLS handshake this server terminated.
#[derive(Debug, Clone)]
pub struct ClientCert(pub PresentedChain);

/// As [`serve_app`], speaking HTTPS when `tls` is given: the handshake runs in the
/// connection's own task, bounded by the header read timeout.
pub async fn serve_app_tls(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    tls: Option<Arc<crate::tls::TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let stop = CancellationToken::new();
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    let outcome = loop {
        // Reap finished connection tasks so the set does not grow with every connection.
        while conns.try_join_next().is_some() {}
        // At the cap we stop calling accept(): new connections queue in the kernel's
        // backlog and are served in order as slots free, instead of being refused.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; treat it as a stop if it ever is.
                Err(_) => break Ok(()),
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (app, stop) = (app.clone(), stop.clone());
                match tls.as_ref().map(|t| t.acceptor()) {
                    None => {
                        conns.spawn(connection(stream, peer, slot, app, limits, stop, None));
                    }
                    Some(acceptor) => {
                        conns.spawn(async move {
                            let handshake = tokio::time::timeout(
                                limits.header_read_timeout,
                                acceptor.accept(stream),
                            );
                            match handshake.await {
                                Ok(Ok(tls)) => {
                                    let cert = tls
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(PresentedChain::from_der)
                                        .map(ClientCert);
                                    let on = Some(cert);
                                    connection(tls, peer, slot, app, limits, stop, on).await;
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
            Err(e) if listener_is_broken(&e) => {
                tracing::error!(error = %e, "listening socket failed; shutting down");
                break Err(e);
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    };
    // Closing the listener makes new connection attempts fail fast (a load balancer moves
    // on to another instance) rather than queue behind a hub that is going away.
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "drain timeout reached; closing the remaining connections"
        );
        conns.shutdown().await;
    }
    outcome
}

/// The listening socket itself is unusable (closed, shut down, not a listening socket):
/// retrying would spin forever on a hub nobody can reach.
fn listener_is_broken(e: &io::Error) -> bool {
    const EBADF: i32 = 9;
    e.kind() == io::ErrorKind::InvalidInput || e.raw_os_error() == Some(EBADF)
}

/// Marks a response whose handler still reads the request body while the response is
/// written. The connection counts as busy until the response body ends, so the handler
/// must end it when the client stalls (reading or writing) for longer than it allows.
#[derive(Debug, Clone, Copy)]
pub struct StreamsBody;

/// Errors that concern only the connection being accepted; the next accept is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    app: Router,
    limits: ConnLimits,
    stop: CancellationToken,
    // Over TLS: the certificate the client presented, if any.
    over_tls: Option<Option<ClientCert>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let watch = Arc::new(Watch::new(&limits));
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: watch.clone(),
    });
    let requests = watch.clone();
    let service = tower::service_fn(move |mut req: Request<Incoming>| {
        // Per connection rather than per router: the peer is a property of the socket.
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(cert) = &over_tls {
            req.extensions_mut().insert(OverTls);
            if let Some(cert) = cert {
                req.extensions_mut().insert(cert.clone());
            }
        }
        let busy = Busy::start(requests.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await;
            match response {
                // A streamed exchange (bulk matching) reads its request body while it
                // writes its answer: body bytes must not count as the next request's
                // head, so the request stays in flight until the answer ends. The
                // handler bounds its own stalls (see `StreamsBody`).
                Ok(mut r) if r.extensions().get::<StreamsBody>().is_some() => {
                    let body = std::mem::take(r.body_mut()).into_data_stream();
                    let held = futures_util::StreamExt::map(body, move |chunk| {
                        let _in_flight = &busy;
                        chunk
                    });
                    *r.body_mut() = axum::body::Body::from_stream(held);
                    Ok(r)
                }
                other => {
                    // Idle again once the handler has answered: writing the response
                    // counts against the idle timeout, so a client that reads its
                    // response slowly (or not at all) cannot hold the connection
                    // beyond it.
                    drop(busy);
                    other
                }
            }
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout);
    let conn = builder.serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut draining = false;
    // One timer per connection, re-armed lazily: requests only move deadlines later, so
    // the timer is checked against the current phase when it fires instead of being
    // replaced on every request (which cost a timer-wheel insert and a task wake-up per
    // request). Only a deadline that moves earlier (a new request head after a long idle
    // spell) wakes the watchdog early.
    let first = Instant::now() + limits.header_read_timeout;
    watch.arm(first);
    let sleep = tokio::time::sleep_until(first);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !draining => {
                // Finishes the request in flight, if any, then closes.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = watch.changed.notified() => {
                if let Some((at, _)) = watch.deadline(&limits) {
                    watch.arm(at);
                    sleep.as_mut().reset(at);
                }
            }
            () = sleep.as_mut() => {
                let next = match watch.deadline(&limits) {
                    Some((at, reason)) if Instant::now() >= at => {
                        tracing::debug!(reason, "closing connection");
                        return;
                    }
                    Some((at, _)) => at,
                    // Handlers are bounded by the request timeout; look again later.
                    None => Instant::now() + limits.header_read_timeout,
                };
                watch.arm(next);
                sleep.as_mut().reset(next);
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a request head whose first byte (or the connection) arrived then.
    AwaitingHead(Instant),
    /// This many requests are being handled.
    Busy(usize),
    /// Keep-alive, nothing in flight, since then.
    Idle(Instant),
}

/// What the watchdog of one connection needs to know about it.
struct Watch {
    state: Mutex<WatchState>,
    header_read_timeout: std::time::Duration,
    idle_timeout: std::time::Duration,
    changed: Notify,
}

struct WatchState {
    phase: Phase,
    /// When the watchdog's timer fires next.
    armed: Instant,
}

impl Watch {
    fn new(limits: &ConnLimits) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(WatchState {
                phase: Phase::AwaitingHead(now),
                armed: now + limits.header_read_timeout,
            }),
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            changed: Notify::new(),
        }
    }

    fn deadline_of(&self, phase: Phase) -> Option<Instant> {
        match phase {
            Phase::AwaitingHead(since) => Some(since + self.header_read_timeout),
            Phase::Idle(since) => Some(since + self.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Sets the phase and wakes the watchdog only if its timer would now fire too late.
    /// Under steady traffic deadlines only move later, so this never wakes it.
    fn set(&self, mut state: std::sync::MutexGuard<'_, WatchState>, phase: Phase) {
        state.phase = phase;
        let earlier = self.deadline_of(phase).is_some_and(|at| at < state.armed);
        drop(state);
        if earlier {
            self.changed.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arm(&self, at: Instant) {
        self.lock().armed = at;
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let state = self.lock();
        let phase = f(state.phase);
        self.set(state, phase);
    }

    fn bytes_arrived(&self) {
        let state = self.lock();
        if let Phase::Idle(_) = state.phase {
            self.set(state, Phase::AwaitingHead(Instant::now()));
        }
    }

    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, &'static str)> {
        match self.lock().phase {
            Phase::AwaitingHead(since) => {
                Some((since + limits.header_read_timeout, "header read timeout"))
            }
            Phase::Idle(since) => Some((since + limits.idle_timeout, "idle timeout")),
            // Handlers are bounded by the request timeout.
            Phase::Busy(_) => None,
        }
    }
}

/// Marks one request in flight for as long as it lives.
struct Busy(Arc<Watch>);

impl Busy {
    fn start(watch: Arc<Watch>) -> Self {
        watch.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        Self(watch)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// The connection's stream (TCP, or TLS over it), reporting arriving bytes to the
/// watchdog.
struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
