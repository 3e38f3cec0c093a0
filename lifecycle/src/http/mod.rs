//! A serve loop whose connections the lifecycle owns (feature `http`), and a tower layer that
//! counts requests in flight.
//!
//! [`serve`] accepts connections on a `TcpListener` and serves each with hyper-util's
//! connection builder (HTTP/1 and HTTP/2, h2c included, upgrades allowed) as a tracked task
//! named by the client's address. At the cancel of the root token (or of the token given to
//! [`Serve::until`]):
//!
//! - the listener is closed without resetting a connection: new connection attempts are
//!   stopped first (on Linux a socket filter drops their SYNs; the client's kernel retries, and
//!   is refused once the socket is closed), every connection the kernel had already queued, and
//!   every handshake still under way once it completes, is accepted and served (HTTP/1 with
//!   `Connection: close`), then the socket is closed. A socket passed by the service manager
//!   ([`listener`](crate::listener)) gets new connections back before it is closed: the
//!   manager's copy keeps taking them for the next process;
//! - a connection that has not sent enough bytes yet to tell HTTP/1 from HTTP/2 (none, or the
//!   start of the HTTP/2 preface) gets the [header-read timeout](Serve::header_read_timeout) to
//!   send its request (it may be on its way), which is answered;
//! - every connection is told to shut down gracefully: an HTTP/1 connection's next response
//!   says `Connection: close`, and one that sends no request within 250 ms (a keep-alive
//!   connection left idle; one that has started its next request head is left to finish it)
//!   is closed: a client sending requests back to back is answered rather than having the
//!   request it sent as the connection closed lost; one with a request in flight finishes it
//!   and closes; on HTTP/2 the client gets a GOAWAY and the open streams finish;
//! - a connection that has no request in flight and is still open after the
//!   [header-read timeout](Serve::header_read_timeout) (a client that sent half a request head,
//!   or nothing) is closed: it cannot hold the drain;
//! - the drain waits for the rest; at the grace deadline the connections still open are cut,
//!   and the [report](crate::tasks::ConnectionReport) names each by its client and the
//!   requests it had in flight (exit code 2).
//!
//! A request is in flight until its response body has been sent in full (flushed to the socket:
//! a client that never reads a large response keeps its request in flight, and the deadline
//! names it with its connection), so a streamed response
//! (SSE) holds the drain until it ends: end the stream at the cancel (a stream that watches
//! `lc.token()`, see `examples/streaming.rs`). A connection upgraded to another protocol (a
//! WebSocket) stays open and counted, and the drain waits for it, until the app drops its socket:
//! close it at the cancel (send a close frame, as `examples/streaming.rs` does). At the deadline
//! it is named in the report, `upgraded`, by the request that upgraded it; the deadline cannot
//! abort the task that holds its socket (axum's `WebSocketUpgrade` spawns its own), so one that
//! ignored the cancel is reported `left running`, and ends with the process.
//!
//! [`Lifecycle::stats`] gives the live counts for a `/stats` endpoint.

// Folder `http/` (feature `http`): the serve loop, the in-flight layer (`layer.rs`) and the axum
// helpers (`axum.rs`, feature `axum`, public as `lifecycle::axum`). Connections are counted by
// `tasks/connections.rs`; this folder only serves.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::handle::Lifecycle;
use crate::log::quietly;

#[cfg(feature = "axum")]
pub mod axum;
mod close;
mod layer;
#[cfg(test)]
mod tests;
mod wake;

use layer::PerConnection;
pub use layer::{Counted, CountedFuture, InFlight, InFlightLayer};
use wake::OnItsWake;

/// The error type services may return.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a connection may take to send a request head, by default: 5 seconds. Change it
/// with [`Serve::header_read_timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(lifecycle::http::DEFAULT_HEADER_READ_TIMEOUT, Duration::from_secs(5));
/// ```
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The bounds of [`Serve::header_read_timeout`]: it is added to the time now, which must not
/// overflow.
const MIN_HEADER_READ_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Serves `service` on `listener` until the root token of `lc` is cancelled (the drain starts),
/// with every connection tracked: see the [module docs](self). Await the returned [`Serve`]; it
/// resolves once the listener is closed (a few milliseconds after the cancel, once the
/// connections it had queued are accepted), leaving the open connections to the drain.
///
/// Called by `main` itself, this is the start boundary (see
/// [`Lifecycle::started`](crate::Lifecycle::started)): the start hooks of the values managed
/// before it run while the loop already accepts, so probes are answered during start-up.
///
/// `service` is a hyper service (`hyper::service::service_fn`, or a tower service through
/// `hyper_util::service::TowerToHyperService`); for an axum `Router`, use
/// `lifecycle::axum::serve`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use hyper::{body::Incoming, service::service_fn, Request, Response};
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let hello = service_fn(|_: Request<Incoming>| async {
///     Ok::<_, Infallible>(Response::new("hello\n".to_owned()))
/// });
/// let handle = lc.clone();
/// let report = sequence
///     .run_without_signals(async move {
///         handle.request_shutdown(); // a signal, in a real service
///         lifecycle::http::serve(&handle, listener, hello).await
///     })
///     .await;
/// assert_eq!(report.code(), 0);
/// assert_eq!(report.connections.unwrap().cut_total, 0);
/// # Ok(()) }
/// ```
pub fn serve<S>(lc: &Lifecycle, listener: TcpListener, service: S) -> Serve<S> {
    lc.boundary("`lifecycle::axum::serve` / `lifecycle::http::serve`");
    Serve {
        lc: lc.clone(),
        listener,
        service,
        until: None,
        header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
    }
}

/// A serve loop being set up: await it (it is [`IntoFuture`]) to run it. Made by [`serve`].
#[must_use = "a serve loop does nothing until awaited"]
pub struct Serve<S> {
    lc: Lifecycle,
    listener: TcpListener,
    service: S,
    /// The app's own stop, besides the root token.
    until: Option<CancellationToken>,
    header_read_timeout: Duration,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("header_read_timeout", &self.header_read_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Serve<S> {
    /// How long a client may take to send a request head (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]), from the connection's opening or its last response (an
    /// idle keep-alive connection is waiting for its next head): an HTTP/1 connection that takes
    /// longer is closed, and once the drain has started, a connection with no request in flight
    /// (HTTP/2 too) gets this long before it is closed (a half-sent request never holds the drain
    /// longer). Taken as at least 1 ms and at most a day.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// # let lc = lifecycle::Sequence::new(lifecycle::Config::new()).handle();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let service = hyper::service::service_fn(|_: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new()))
    /// # });
    /// let serve = lifecycle::http::serve(&lc, listener, service)
    ///     .header_read_timeout(Duration::from_secs(2));
    /// # drop(serve); Ok(()) }
    /// ```
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.clamp(MIN_HEADER_READ_TIMEOUT, MAX_HEADER_READ_TIMEOUT);
        self
    }

    /// Stops accepting and drains the connections when `token` is cancelled, or the root token,
    /// whichever comes first: for a server that must stop before other work (a stage of its
    /// own). The drain still waits for the connections, and the grace deadline still cuts them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// # let lc = lifecycle::Sequence::new(lifecycle::Config::new()).handle();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let service = hyper::service::service_fn(|_: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new()))
    /// # });
    /// let admin_stop = lc.token(); // cancelled with the root, or earlier by the app
    /// admin_stop.cancel();
    /// lifecycle::http::serve(&lc, listener, service).until(admin_stop).await?; // returns at once
    /// # Ok(()) }
    /// ```
    pub fn until(mut self, token: CancellationToken) -> Self {
        self.until = Some(token);
        self
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S, B> Serve<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn run(self) -> io::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The header-read timeout is the connection task's own clock (see `serve_connection`),
        // not hyper's: hyper's takes a timer entry and an extra read of the socket per request.
        builder.http1().header_read_timeout(None);
        builder.http2().timer(TokioTimer::new());
        // For the connections accepted from the listener's queue as it closes: one request
        // each, answered with `Connection: close`.
        let mut closing = builder.clone();
        closing.http1().keep_alive(false);
        let (builder, closing) = (Arc::new(builder), Arc::new(closing));
        self.lc
            .inner()
            .connections()
            .serving(self.listener.local_addr().ok());
        // Cancelled with the root token, or with the app's own (which a watcher passes on).
        let stop = self.lc.token();
        if let Some(until) = self.until {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = until.cancelled() => stop.cancel(),
                    () = stop.cancelled() => {}
                }
            });
        }
        let serve = |stream: TcpStream, peer: SocketAddr, builder: &Arc<auto::Builder<_>>| {
            let _ = stream.set_nodelay(true);
            let drain = self.lc.inner().tasks().running_guard();
            let connection = Arc::new(self.lc.inner().connections().open(peer, drain));
            let task = serve_connection(
                Arc::clone(builder),
                stream,
                PerConnection {
                    inner: self.service.clone(),
                    connection: Arc::clone(&connection),
                },
                stop.clone(),
                self.header_read_timeout,
            );
            let handle = self
                .lc
                .inner()
                .tasks()
                .spawn_connection(format!("connection {peer}"), task);
            connection.set_abort(handle.abort_handle());
        };
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        backoff(&err, &stop).await;
                        continue;
                    }
                },
            };
            serve(stream, peer, &builder);
        }
        // New connections are stopped, the ones the kernel had queued served (not reset), and
        // the socket closed: new connections are refused from here on.
        close::close_listener(self.listener, |stream, peer| serve(stream, peer, &closing)).await;
        Ok(())
    }
}

/// One connection, from its first byte to its close: served until the cancel, then shut down
/// gracefully; closed when it has been without a request in flight for a header-read timeout
/// (an HTTP/2 connection only once the drain has started).
async fn serve_connection<S, B>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    service: PerConnection<S>,
    token: CancellationToken,
    header_read_timeout: Duration,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let connection = Arc::clone(&service.connection);
    let stream = TrackedStream {
        stream,
        connection: Arc::clone(&connection),
        preface: Some(0),
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    // Looked at only when they wake the task, not at each of the connection's wake-ups.
    let mut stop = std::pin::pin!(OnItsWake::new(token.cancelled()));
    let mut clock = std::pin::pin!(OnItsWake::new(tokio::time::sleep(header_read_timeout)));
    let mut clock_running = true;
    // Since when the drain has been going.
    let mut draining: Option<Instant> = None;
    // At the cancel, a connection whose protocol is not known yet (it has sent nothing, or the
    // start of the HTTP/2 preface: `P`, `PRI *`) may have its first request on its way:
    // hyper-util drops such a connection at the graceful shutdown, unread, and the request is
    // lost. Its graceful shutdown waits until its first bytes tell the protocol (the header-read
    // clock bounds the wait, as for a half-sent head).
    let mut shutdown_when_spoken = false;
    // At the cancel an HTTP/1 connection that has spoken gets a moment for its next request
    // (answered with `Connection: close`) before its graceful shutdown; at a hand-over to
    // another process (an upgrade), every connection does, a silent one for its first bytes.
    let mut hand_over_linger: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let event = std::future::poll_fn(|cx| {
            if conn.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Ended);
            }
            // The bytes are read inside `poll`, which works out the protocol from them (and
            // `TrackedStream` with it).
            if shutdown_when_spoken && connection.has_spoken() {
                return Poll::Ready(Event::Spoke);
            }
            if let Some(linger) = hand_over_linger.as_mut() {
                if linger.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Lingered);
                }
            }
            if draining.is_none() && stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Cancelled);
            }
            if clock_running && clock.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Clock);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match event {
            Event::Ended => return,
            Event::Spoke => {
                shutdown_when_spoken = false;
                conn.as_mut().graceful_shutdown();
            }
            Event::Lingered => {
                hand_over_linger = None;
                if !connection.has_spoken() {
                    connection.closed_reading_headers();
                    return;
                }
                // An HTTP/1 connection with no request in flight that has sent bytes since its
                // last response is sending its next head: hyper would close it at the graceful
                // shutdown (it is idle to hyper until the head is whole), and the request would
                // be lost. Its response says `Connection: close` and hyper closes it once sent;
                // the header-read clock bounds a head that never ends.
                if !connection.sending_next_head() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            Event::Cancelled => {
                draining = Some(now);
                let handing_over = crate::listeners::shared();
                let keep_alive = connection.has_spoken() && !connection.speaks_http2();
                if handing_over || keep_alive {
                    // An idle keep-alive connection closed now would race the client's next
                    // request on it (sent as it closes, it is lost unanswered): its next
                    // response says `Connection: close` instead, hyper closes it once sent,
                    // and the client's next connection goes to the other process, or is
                    // refused. One that sends nothing within the linger is closed.
                    connection.close_after_next_response();
                    let linger = if handing_over {
                        close::HAND_OVER_LINGER
                    } else {
                        close::KEEP_ALIVE_LINGER
                    };
                    let linger = linger.min(header_read_timeout);
                    hand_over_linger = Some(Box::pin(tokio::time::sleep(linger)));
                } else if connection.has_spoken() {
                    conn.as_mut().graceful_shutdown();
                } else {
                    // Its response may be written in the very poll that reads its first
                    // request: it says `Connection: close` from now on (HTTP/2 drops the
                    // header).
                    connection.close_after_next_response();
                    shutdown_when_spoken = true;
                }
                // Look at the clock now: an HTTP/2 connection's starts.
                clock.as_mut().future().reset(now);
                clock.as_mut().again();
                clock_running = true;
            }
            Event::Clock => {
                let Some(idle_since) = connection.idle_since() else {
                    // A request in flight: no head is being read.
                    clock.as_mut().future().reset(now + header_read_timeout);
                    clock.as_mut().again();
                    continue;
                };
                // An HTTP/2 connection between streams is not reading a head: its clock runs
                // only in the drain, from the cancel.
                let since = if connection.speaks_http2() {
                    match draining {
                        Some(cancelled) => idle_since.max(cancelled),
                        None => {
                            clock_running = false;
                            continue;
                        }
                    }
                } else {
                    idle_since
                };
                let deadline = since + header_read_timeout;
                if deadline <= now {
                    if draining.is_some() {
                        connection.closed_reading_headers();
                    }
                    return;
                }
                clock.as_mut().future().reset(deadline);
                clock.as_mut().again();
            }
        }
    }
}

/// What woke a connection's task.
enum Event {
    /// The connection ended: closed by either side, or upgraded (its socket handed over).
    Ended,
    /// The stop token: the drain starts.
    Cancelled,
    /// The first bytes of a connection whose protocol was not known at the cancel told it: its
    /// graceful shutdown can start (its request is answered).
    Spoke,
    /// At the cancel, the moment each HTTP/1 connection is given for its next request (a
    /// hand-over: its first) has passed.
    Lingered,
    /// The header-read clock rang.
    Clock,
}

/// The first bytes an HTTP/2 client sends (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's socket, holding the connection's registration: when hyper hands the socket
/// over on an upgrade (a WebSocket), the connection stays open, counted and waited for by the
/// drain until the app drops it.
struct TrackedStream {
    stream: TcpStream,
    connection: Arc<crate::tasks::connections::Connection>,
    /// How many bytes of [`HTTP2_PREFACE`] the first reads matched, until they tell the
    /// protocol: `None` once they have (and the connection was told it has spoken).
    preface: Option<usize>,
}

impl TrackedStream {
    /// Looks at the bytes the first reads brought for the HTTP/2 preface, as hyper-util's
    /// `auto` builder does: the connection has spoken once they tell HTTP/1 (a byte off the
    /// preface, or the end of the stream) from HTTP/2 (the whole preface), not at its first
    /// byte. Until then hyper-util's graceful shutdown would drop it unread (see
    /// `serve_connection`).
    fn sniff(&mut self, read: &[u8]) {
        let Some(matched) = self.preface else { return };
        let expected = &HTTP2_PREFACE[matched..];
        let n = read.len().min(expected.len());
        let http2 = if n == 0 || read[..n] != expected[..n] {
            false // a byte off the preface, or the end of the stream: HTTP/1
        } else if matched + n < HTTP2_PREFACE.len() {
            self.preface = Some(matched + n); // the preface's start so far: either
            return;
        } else {
            true
        };
        if http2 {
            self.connection.set_http2();
        }
        self.preface = None;
        self.connection.spoke();
    }
}

impl AsyncRead for TrackedStream {
    #[inline]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.heard(true);
        }
        if self.preface.is_some() && matches!(read, Poll::Ready(Ok(()))) {
            self.sniff(&buf.filled()[before..]);
        }
        read
    }
}

impl AsyncWrite for TrackedStream {
    #[inline]
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.connection.heard(false);
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.connection.heard(false);
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// hyper flushes the socket once its own write buffer is empty: the responses whose bodies
    /// ended before this are sent, and their requests no longer in flight.
    #[inline]
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.connection.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shut = Pin::new(&mut self.stream).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = shut {
            self.connection.flushed();
        }
        shut
    }
}

/// After a failed `accept`: errors of one connection (reset before it was accepted) are
/// skipped; others (out of file descriptors) are logged and retried a moment later, so a
/// burst of clients cannot stop the server.
async fn backoff(err: &io::Error, token: &CancellationToken) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    quietly(|| tracing::warn!(error = %err, "accept failed; retrying in 100 ms"));
    tokio::select! {
        () = token.cancelled() => {}
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
}
