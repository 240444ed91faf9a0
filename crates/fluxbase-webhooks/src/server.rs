//! [`serve`]: an HTTP/1 server for a tower service (such as an axum
//! `Router`) with the connection limits a public webhook endpoint needs.
//!
//! `axum::serve` sets no timeouts: a connection that sends nothing, one
//! that trickles its header a byte at a time, and an idle kept-alive
//! connection all stay open for as long as the peer likes, so anyone can
//! hold every descriptor the process has. This server closes
//!
//! - a connection whose request head has not fully arrived within the
//!   header timeout (default 10 s), counted from when the connection opens
//!   or, on a kept-alive connection, from the end of the previous response
//!   (so it is the idle timeout as well);
//! - a connection whose peer reads nothing of an answer for the write
//!   timeout (default 10 s): one that sends requests, pipelined or not, and
//!   never reads the answers would otherwise hold its slot for good, as
//!   hyper counts no time while an answer waits to be written;
//! - nothing else by time: the body's own timeout is the
//!   [`Receiver`](crate::Receiver)'s read timeout (30 s by default);
//!
//! and it holds at most [`Serve::max_connections`] connections at once
//! (default 512), accepting the next one only when one closes. Each
//! connection's read buffer stays under 64 KiB (hyper's own default grows to
//! about 400 KiB), so the connections together hold little besides the
//! bodies the receiver's budget already counts.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default time a request head may take to arrive (and a kept-alive
/// connection may stay idle): 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an answer may wait for the peer to read any of it: 10 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default most connections open at once: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The most one connection buffers from its socket: 64 KiB (a request head
/// is far smaller; a body is read through in pieces of at most this).
const READ_BUFFER: usize = 64 * 1024;
/// How long a graceful shutdown waits for requests in flight: 30 s.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A tower service [`serve`] can run, as an axum `Router` is: it answers a
/// `Request<Incoming>` with a `Response` whose body hyper can write, never
/// fails (`Error = Infallible`), and is `Clone + Send + 'static` with a
/// `Send` future. Implemented for every such service.
pub trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// Serves `service` on `listener`: HTTP/1.1 with keep-alive, a header
/// timeout that also closes idle connections, a write timeout for peers
/// that read nothing, and a bound on open connections. Await the returned [`Serve`] to run it.
///
/// ```no_run
/// use axum::{Router, routing::post};
/// use fluxbase_webhooks::{Verifier, axum::FluxbaseEvent, tower::VerifyLayer};
///
/// async fn webhook(FluxbaseEvent(event): FluxbaseEvent) {
///     println!("{}", event.name());
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?;
/// let app = Router::new().route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// fluxbase_webhooks::axum::serve(listener, app)
///     .header_read_timeout(std::time::Duration::from_secs(5))
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
///     .await?;
/// # Ok(()) }
/// ```
pub fn serve<S: HttpService>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
        service,
        header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        write_timeout: DEFAULT_WRITE_TIMEOUT,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        shutdown: None,
    }
}

/// A server being configured; await it to run it (see [`serve`]).
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
    header_read_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<S> Serve<S> {
    /// How long a request head may take to arrive, counted from when the
    /// connection opens or, on a kept-alive connection, from the end of the
    /// previous response (default 10 s). A connection past it is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long an answer may wait for the peer to read any of it (default
    /// 10 s). A connection whose peer has read nothing for that long while
    /// an answer is being written is closed; each write that goes through
    /// starts the time again.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The most connections open at once (default 512, at least 1). Past
    /// it, the next connection waits in the listen backlog until one
    /// closes. Keep it below the process's descriptor limit.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Stops accepting when `signal` completes, then waits (up to 30 s)
    /// for the requests in flight to finish.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// The address the server listens on.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .field("graceful_shutdown", &self.shutdown.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: HttpService> IntoFuture for Serve<S> {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S: HttpService> Serve<S> {
    async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            service,
            header_read_timeout,
            write_timeout,
            max_connections,
            shutdown,
        } = self;
        let mut shutdown = shutdown.unwrap_or_else(|| Box::pin(std::future::pending()));
        let slots = Arc::new(Semaphore::new(max_connections));
        let graceful = GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(READ_BUFFER)
            .keep_alive(true);
        loop {
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break, // The semaphore is never closed.
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(err) => {
                        // Out of descriptors, or a connection reset before it
                        // was accepted: wait a little rather than spin.
                        tracing::debug!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let connection = builder.serve_connection(
                TokioIo::new(WriteTimeout::new(stream, write_timeout)),
                TowerToHyperService::new(service.clone()),
            );
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection closed with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
        Ok(())
    }
}

/// A connection whose writes fail once the peer has taken none of them for
/// `timeout`: hyper's own timers count only while a request head is read.
struct WriteTimeout<T> {
    io: T,
    timeout: Duration,
    /// Armed when a write first has to wait; disarmed by any write that
    /// goes through.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    fn new(io: T, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            stalled: None,
        }
    }

    /// Passes a write's outcome on, or the timeout's error once the writes
    /// have waited too long.
    fn watch<R>(&mut self, poll: Poll<io::Result<R>>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer read nothing of the answer within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(poll, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(poll, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(poll, cx)
    }
}
