//! Serving one listener's connections so that slow or silent clients cannot pile up: the accept
//! loop, TLS, HTTP/1.1 and HTTP/2 (hyper-util's automatic builder), and the limits.
//!
//! | limit | what it stops | how |
//! |---|---|---|
//! | [`Limits::header_read_timeout`] | a TLS handshake never finished; a connection whose first request head (HTTP/1.1) or HTTP/2 request does not arrive in time, sent byte by byte or not at all | the handshake is given this long; a connection with no request started by then is closed |
//! | [`Limits::body_read_timeout`] | a request body trickled or never sent (HTTP/1.1 and HTTP/2) | the whole body must arrive within it from the request head ([`deadline_body`]); a late body is a 400 in the route's dialect |
//! | [`Limits::idle_timeout`] | a connection, HTTP/2 included, with no request in flight (also one trickling a later request head) | closed after one to two idle periods; a connection already told to close gets one more period, then it is dropped |
//! | [`Limits::max_connections`] | connections beyond the cap | not accepted until others close (they wait in the kernel's backlog) |
//!
//! All of them are wall-clock network timeouts, not lab time: a lab clock running 60× does not
//! shorten a client's time to send its request.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// Read timeouts and the connection cap of both listeners (`mock-kms --help` names the flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to finish the TLS handshake, and then to start the first request.
    pub header_read_timeout: Duration,
    /// Time to send a request body, from the end of its head.
    pub body_read_timeout: Duration,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// Connections served at once, per listener.
    pub max_connections: usize,
}

impl Default for Limits {
    /// 10 s for a handshake and first request head (a real client sends it in one write), 30 s
    /// for a body (at most [`crate::server::MAX_BODY_BYTES`]), 120 s idle (longer than clients'
    /// pools keep idle connections — hyper's and reqwest's 90 s — so the client, not the server,
    /// closes an idle one, and never while it sends on it), 1,024 connections per listener.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// A listener being served; [`Serving::shutdown`] stops it.
#[derive(Debug)]
pub(crate) struct Serving {
    open: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Connections open now.
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets requests in flight finish for up to `grace`, then drops whatever is
    /// left.
    pub(crate) async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            tracing::warn!("connections still open after {grace:?}: dropped");
        }
    }
}

/// TLS for a listener, or none.
pub(crate) type Tls = Option<tokio_rustls::TlsAcceptor>;

/// Serves `router` on `listener` (already bound, non-blocking) within `limits`.
pub(crate) fn serve(
    listener: StdTcpListener,
    router: Router,
    tls: Tls,
    limits: Limits,
) -> std::io::Result<Serving> {
    let listener = TcpListener::from_std(listener)?;
    let router = router.layer(axum::middleware::from_fn(move |request, next| {
        deadline_body(limits.body_read_timeout, request, next)
    }));
    let (stop, stopped) = watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(accept_loop(
        listener,
        router,
        tls,
        limits,
        open.clone(),
        stopped,
    ));
    Ok(Serving { open, stop, task })
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Tls,
    limits: Limits,
    open: Arc<AtomicUsize>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stopping(&mut stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment and go on; the listener itself is fine.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopping(&mut stopped) => break,
        };
        let (router, tls, stopped) = (router.clone(), tls.clone(), stopped.clone());
        let open = Open::count(&open);
        connections.spawn(async move {
            let _slot = (slot, open);
            match tls {
                None => serve_connection(stream, peer, router, limits, stopped).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, router, limits, stopped).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    // Connections close gracefully; the caller's grace period bounds how long.
    while connections.join_next().await.is_some() {}
}

/// Resolves once the listener is told to stop.
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Requests of one connection: how many started and how many are in flight.
#[derive(Debug, Default)]
struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let counted = {
        let activity = activity.clone();
        tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let (activity, router) = (activity.clone(), router.clone());
            async move {
                activity.started.fetch_add(1, Ordering::SeqCst);
                let _done = Done(&activity.finished);
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                router.oneshot(request).await
            }
        })
    };
    // No hyper header timeout for HTTP/1.1: it also runs while a keep-alive connection waits for
    // its next request, and closing a pooled connection after a few idle seconds races the
    // client's next request on it. The first request's deadline and the idle timeout below
    // bound both instead.
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.header_read_timeout);
    let mut connection =
        pin!(builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            TowerToHyperService::new(counted)
        ));
    // The first request must start within the head timeout (this also covers a client that
    // opens a connection, or an HTTP/2 session, and sends nothing); after that, the connection
    // may stay idle for the idle timeout.
    let mut period = limits.header_read_timeout;
    let mut seen = 0;
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stopping(&mut stopped), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep(period) => {
                if closing {
                    // Told to close one period ago and still open (e.g. a client that does not
                    // read its response): drop it.
                    return;
                }
                let started = activity.started.load(Ordering::SeqCst);
                let finished = activity.finished.load(Ordering::SeqCst);
                if started == finished && started == seen {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                seen = started;
                period = limits.idle_timeout;
            }
        }
    }
}

/// Counts a connection as open while it lives.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a request as finished when dropped (also when its handler is cancelled).
struct Done<'a>(&'a AtomicU64);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Gives the request's body `timeout` to arrive in full; after that, reading it fails, and the
/// route answers its usual "could not read the body" 400.
async fn deadline_body(timeout: Duration, request: Request, next: Next) -> Response {
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            body,
            expires: Box::pin(tokio::time::sleep(timeout)),
        })
    });
    next.run(request).await
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    body: Body,
    expires: Pin<Box<tokio::time::Sleep>>,
}

/// The error a [`DeadlineBody`] ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.expires.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
