//! The connections a serve loop of this lifecycle holds, and the requests in flight on them:
//! counted live (for a `/stats` endpoint), marked at the trigger, and named when the grace
//! deadline cuts them. The serve loop and the in-flight layer ([`crate::http`], feature `http`)
//! feed it; without them it stays empty and the report says nothing of connections.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::lock::lock;
use crate::tasks::RunningGuard;

/// How many connections and requests a lifecycle's serve loop holds right now: what
/// [`Lifecycle::stats`](crate::Lifecycle::stats) returns, and what the report saw at
/// the trigger.
///
/// # Examples
///
/// ```
/// use lifecycle::tasks::ConnectionStats;
/// use lifecycle::{Config, Sequence};
///
/// let lc = Sequence::new(Config::new()).handle();
/// assert_eq!(lc.stats().connections, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Open connections (HTTP/1 and HTTP/2, upgraded ones included until they close).
    pub connections: usize,
    /// Requests received and not yet answered in full: a streamed response (SSE) counts until
    /// its body ends.
    pub in_flight: usize,
}

/// A request as the report names it: its method and its path (with the query).
///
/// # Examples
///
/// See [`ConnectionReport`]: a cut connection's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLine {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, cut to [`MAX_PATH`] bytes.
    pub path: String,
}

/// How much of a request's path the report keeps.
pub const MAX_PATH: usize = 200;

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A connection still open at the grace deadline, closed where it stood.
///
/// # Examples
///
/// See [`ConnectionReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CutConnection {
    /// The client's address.
    pub peer: SocketAddr,
    /// The requests it had in flight (several on HTTP/2; none when it was idle or still sending
    /// a request head); for an upgraded connection, the request that upgraded it.
    pub requests: Vec<RequestLine>,
    /// Whether it had been upgraded to another protocol (a WebSocket, say).
    pub upgraded: bool,
    /// Whether it was closed by the end of the drain. An upgraded connection lives in the task
    /// its app (or framework: axum's `WebSocketUpgrade` spawns its own) gave it, which the
    /// deadline cannot abort: it stays open until the app drops it or the process exits.
    pub stopped: bool,
}

impl fmt::Display for CutConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.peer)?;
        for (i, request) in self.requests.iter().enumerate() {
            f.write_str(if i == 0 { " (" } else { ", " })?;
            write!(f, "{request}")?;
        }
        if !self.requests.is_empty() {
            f.write_str(")")?;
        }
        if self.upgraded {
            f.write_str(" upgraded")?;
        }
        if !self.stopped {
            f.write_str(", left running")?;
        }
        Ok(())
    }
}

/// How many cut connections a report names; [`ConnectionReport::cut_total`] counts them all.
pub const MAX_CONNECTIONS_NAMED: usize = 100;

/// What the lifecycle's serve loop did with its connections during the shutdown: part of the
/// [`ShutdownReport`](crate::ShutdownReport) when a serve loop (or the in-flight layer) ran.
///
/// # Examples
///
/// A request that never ends, cut at the deadline (needs feature `http`):
///
/// ```
/// # #[cfg(feature = "http")]
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use std::future::IntoFuture;
/// use std::time::Duration;
/// use hyper::{body::Incoming, service::service_fn, Request, Response};
/// use lifecycle::{Config, Sequence};
/// use tokio::io::AsyncWriteExt;
///
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_millis(200)));
/// let lc = sequence.handle();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let address = listener.local_addr()?;
/// let stuck = service_fn(|_: Request<Incoming>| async {
///     std::future::pending::<Result<Response<String>, std::convert::Infallible>>().await
/// });
/// let mut client = tokio::net::TcpStream::connect(address).await?; // held to the end
/// client.write_all(b"GET /export HTTP/1.1\r\nHost: x\r\n\r\n").await?;
/// let handle = lc.clone();
/// let report = sequence
///     .run_without_signals(async move {
///         let serving = tokio::spawn(lifecycle::http::serve(&handle, listener, stuck).into_future());
///         while handle.stats().in_flight == 0 {
///             tokio::time::sleep(Duration::from_millis(5)).await;
///         }
///         handle.request_shutdown();
///         serving.await.expect("the serve loop")
///     })
///     .await;
/// let connections = report.connections.as_ref().unwrap();
/// assert_eq!(connections.at_trigger.in_flight, 1);
/// assert_eq!(connections.cut_total, 1);
/// assert_eq!(connections.cut[0].requests[0].to_string(), "GET /export");
/// assert!(connections.to_string().ends_with("0 requests finished, 0 connections closed, 1 cut"));
/// assert_eq!(report.code(), lifecycle::exit::EXIT_ABORTED);
/// # Ok(()) }
/// # #[cfg(not(feature = "http"))] fn main() {}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionReport {
    /// Open connections and requests in flight when the shutdown was triggered.
    pub at_trigger: ConnectionStats,
    /// Requests that ended between the trigger and the end of the drain: answered in full, or
    /// given up by their client.
    pub requests_finished: u64,
    /// Connections that closed between the trigger and the end of the drain (not cut).
    pub connections_closed: u64,
    /// Connections the drain closed because they were still sending a request head when their
    /// header-read timeout ran out (counted in `connections_closed` too).
    pub closed_reading_headers: u64,
    /// Connections open at the grace deadline, the first [`MAX_CONNECTIONS_NAMED`] of them.
    pub cut: Vec<CutConnection>,
    /// How many connections the deadline cut in all.
    pub cut_total: usize,
    /// Requests in flight at the deadline, on the cut connections or counted by the in-flight
    /// layer outside the serve loop.
    pub requests_cut: usize,
    /// Of [`requests_cut`](Self::requests_cut), those the in-flight layer counted outside the
    /// serve loop's connections (on tonic's server, say): work cut short that no cut connection
    /// names. The drain line counts them beside the connections, and they make the exit code 2.
    pub layer_requests_cut: usize,
    /// Whether the lifecycle saw connections: its serve loop ran. With only the in-flight layer
    /// (`lifecycle::http::InFlightLayer` on tonic's server, say) it sees requests
    /// and not the connections they came on: the connection figures are then zero for want of
    /// knowing, and the report's line speaks of requests only.
    ///
    /// # Examples
    ///
    /// A request through the layer alone, in flight at the trigger (needs feature `http`):
    ///
    /// ```
    /// # #[cfg(feature = "http")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use lifecycle::http::InFlightLayer;
    /// use lifecycle::{Config, Sequence};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let service = InFlightLayer::new(&lc).layer(service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// }));
    /// let report = sequence
    ///     .run_without_signals(async move {
    ///         let response = service.oneshot(http::Request::new(())).await.unwrap();
    ///         lc.request_shutdown();
    ///         lc.cancelled().await; // the drain has counted the request in flight
    ///         drop(response); // its body is sent: finished
    ///     })
    ///     .await;
    /// let requests = report.connections.as_ref().unwrap();
    /// assert!(!requests.connections_seen);
    /// assert_eq!(
    ///     requests.to_string(),
    ///     "1 in flight at the trigger; 1 finished, 0 still in flight at the deadline \
    ///      (counted by the in-flight layer, which does not see connections)"
    /// );
    /// assert!(report.to_string().contains("\n  requests      1 in flight at the trigger; "));
    /// # }
    /// # #[cfg(not(feature = "http"))] fn main() {}
    /// ```
    pub connections_seen: bool,
}

impl fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at_trigger;
        if !self.connections_seen {
            return write!(
                f,
                "{} in flight at the trigger; {} finished, {} still in flight at the deadline \
                 (counted by the in-flight layer, which does not see connections)",
                at.in_flight, self.requests_finished, self.requests_cut
            );
        }
        write!(
            f,
            "{} open, {} requests in flight at the trigger; {} requests finished, {} connections closed, {} cut",
            at.connections, at.in_flight, self.requests_finished, self.connections_closed, self.cut_total
        )?;
        if self.closed_reading_headers > 0 {
            write!(
                f,
                " ({} closed while still sending a request head)",
                self.closed_reading_headers
            )?;
        }
        Ok(())
    }
}

// ===== the registry ==============================================================================

/// One open connection: its client, and its requests in flight.
///
/// A request on it touches only the slot (one lock the connection's own task takes, without
/// contention): the registry's figures are sums over the slots, made when they are read (a
/// `/stats` endpoint, the trigger, the deadline), not counters that every request of every
/// connection would move on the same cache line.
struct Slot {
    peer: SocketAddr,
    /// Where its requests end up counted once it has closed.
    registry: Arc<Registry>,
    state: Mutex<SlotState>,
    /// How many requests of `state` have a response body that ended (see [`SlotState`]): read
    /// without the lock on every flush, which is all a flush costs while there are none.
    ended: AtomicUsize,
    /// The connection is to close after its next response (the drain, or a hand-over to
    /// another process): that response says `Connection: close`.
    closing: AtomicBool,
}

/// The requests in flight on one connection, and what the deadline needs to cut it.
///
/// A request is in flight until its response has been sent: not when its body's last frame was
/// handed to the server (hyper then drops the body, with a whole 64 MiB response still in its
/// write buffer when the client does not read), but when the connection's writer flushed after
/// that (a buffered writer flushes its own buffer before its socket: a successful flush of the
/// socket means what was handed over before it reached the kernel). Until then the request is
/// kept here with `body_ended` set, counted and named like any other.
struct SlotState {
    /// The requests in flight, and the entries of those that are over, which the next ones
    /// reuse (with their strings): an HTTP/1 connection keeps one entry for all its requests,
    /// and counting a request allocates nothing once its connection has served one.
    list: Vec<InFlightRequest>,
    /// How many entries of `list` are in flight.
    in_flight: usize,
    /// The connection is gone: a request that ends from now on is over at once.
    closed: bool,
    next_request: u64,
    /// Requests over on this connection, answered or given up (the registry takes them over
    /// when the connection closes).
    finished: u64,
    /// Since when it has had no request in flight (its opening, or the last response sent):
    /// the start of its header-read clock.
    idle_since: Instant,
    abort: Option<AbortHandle>,
    /// The request that upgraded it, once it has been.
    upgraded: Option<RequestLine>,
}

/// One request on a connection: in flight, or over and kept for the next one.
struct InFlightRequest {
    number: u64,
    line: Line,
    /// Its response body ended; it is over at the connection's next flush.
    body_ended: bool,
    /// It is over: the entry is free.
    over: bool,
}

impl SlotState {
    /// A new request in flight, in a free entry if there is one; returns its number.
    fn start(&mut self, method: &str, path: &str) -> u64 {
        let number = self.next_request;
        self.next_request += 1;
        self.in_flight += 1;
        if let Some(free) = self.list.iter_mut().find(|request| request.over) {
            free.number = number;
            free.line.write(method, path);
            free.body_ended = false;
            free.over = false;
        } else {
            let mut line = Line {
                text: String::new(),
                method: 0,
            };
            line.write(method, path);
            self.list.push(InFlightRequest {
                number,
                line,
                body_ended: false,
                over: false,
            });
        }
        number
    }

    /// The requests in flight, in the order they came.
    fn in_flight(&self) -> impl Iterator<Item = &InFlightRequest> {
        let mut requests: Vec<&InFlightRequest> =
            self.list.iter().filter(|request| !request.over).collect();
        requests.sort_by_key(|request| request.number);
        requests.into_iter()
    }

    /// The entry of request `number`, while it is in flight.
    fn find(&mut self, number: u64) -> Option<&mut InFlightRequest> {
        self.list
            .iter_mut()
            .find(|request| !request.over && request.number == number)
    }

    /// The requests whose body ended are over. Returns how many.
    fn take_ended(&mut self) -> usize {
        let mut over = 0;
        for request in &mut self.list {
            if request.body_ended && !request.over {
                request.over = true;
                over += 1;
            }
        }
        self.in_flight -= over;
        over
    }
}

/// A request's method and path as the report would name them, in one string, written over the
/// previous request's in the same entry.
struct Line {
    /// The method, then the path.
    text: String,
    method: usize,
}

impl Line {
    /// Writes `method` and `path` (cut to [`MAX_PATH`] bytes, at a character boundary).
    fn write(&mut self, method: &str, path: &str) {
        let mut end = path.len().min(MAX_PATH);
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        self.text.clear();
        self.text.push_str(method);
        self.text.push_str(&path[..end]);
        self.method = method.len();
    }

    fn to_request_line(&self) -> RequestLine {
        let (method, path) = self.text.split_at(self.method);
        RequestLine {
            method: method.to_owned(),
            path: path.to_owned(),
        }
    }
}

/// The counters at the trigger, to subtract from at the end of the drain.
#[derive(Clone, Copy)]
struct Mark {
    stats: ConnectionStats,
    finished: u64,
    closed: u64,
    reading_headers: u64,
}

/// Every connection and request of one lifecycle.
#[derive(Default)]
pub(crate) struct Registry {
    /// A serve loop or the layer ran: the report has a connections section.
    used: AtomicBool,
    /// A serve loop ran: the connection counts are known (the layer alone sees only requests).
    sees_connections: AtomicBool,
    /// The deadline cut what was left: ends after it are not counted as finished.
    sealed: AtomicBool,
    live: AtomicUsize,
    /// Requests over on connections that have closed, and of the in-flight layer (the open
    /// connections count their own in their slots).
    finished: AtomicU64,
    /// The requests finished in all when the deadline sealed the counts.
    finished_at_seal: AtomicU64,
    /// Requests still in flight on connections already closed (their guard not yet dropped).
    orphans: AtomicUsize,
    closed: AtomicU64,
    reading_headers: AtomicU64,
    /// Requests in flight when the deadline cut the connections.
    requests_cut: AtomicUsize,
    /// Requests of the in-flight layer in flight now, outside the serve loop's connections.
    layer_in_flight: AtomicUsize,
    /// Of those, the ones in flight at the deadline.
    layer_requests_cut: AtomicUsize,
    next: AtomicU64,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// The addresses the serve loops listen on, in the order they started.
    listening: tokio::sync::watch::Sender<Vec<std::net::SocketAddr>>,
    mark: Mutex<Option<Mark>>,
}

impl Registry {
    pub(crate) fn stats(&self) -> ConnectionStats {
        let slots = lock(&self.slots);
        let on_connections: usize = slots.values().map(|slot| lock(&slot.state).in_flight).sum();
        ConnectionStats {
            connections: self.live.load(Ordering::SeqCst),
            in_flight: on_connections
                + self.orphans.load(Ordering::SeqCst)
                + self.layer_in_flight.load(Ordering::SeqCst),
        }
    }

    /// The requests over so far, on every connection and through the layer; once sealed, those
    /// over when the deadline came.
    fn finished(&self) -> u64 {
        if self.sealed.load(Ordering::SeqCst) {
            return self.finished_at_seal.load(Ordering::SeqCst);
        }
        // Under the lock a closing connection takes to hand its count over: counted once.
        let slots = lock(&self.slots);
        let on_connections: u64 = slots.values().map(|slot| lock(&slot.state).finished).sum();
        on_connections + self.finished.load(Ordering::SeqCst)
    }

    /// Notes the counts at the trigger (once).
    pub(crate) fn mark_trigger(&self) {
        let mut mark = lock(&self.mark);
        if mark.is_none() {
            *mark = Some(Mark {
                stats: self.stats(),
                finished: self.finished(),
                closed: self.closed.load(Ordering::SeqCst),
                reading_headers: self.reading_headers.load(Ordering::SeqCst),
            });
        }
    }

    /// At the grace deadline: aborts every connection still open and names it.
    pub(crate) fn cut_all(&self) -> Vec<CutConnection> {
        let finished = self.finished();
        self.finished_at_seal.store(finished, Ordering::SeqCst);
        self.sealed.store(true, Ordering::SeqCst);
        let in_flight = self.stats().in_flight;
        self.requests_cut.store(in_flight, Ordering::SeqCst);
        let layer = self.layer_in_flight.load(Ordering::SeqCst);
        self.layer_requests_cut.store(layer, Ordering::SeqCst);
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        // Named first, aborted after: an aborted connection's task may be dropped on another
        // worker at once, taking its requests off the slot before they were read.
        let mut cut: Vec<CutConnection> = slots
            .iter()
            .map(|slot| {
                let state = lock(&slot.state);
                let upgraded = state.upgraded.clone();
                let in_flight = state
                    .in_flight()
                    .map(|request| request.line.to_request_line());
                CutConnection {
                    peer: slot.peer,
                    stopped: false,
                    upgraded: upgraded.is_some(),
                    requests: upgraded.into_iter().chain(in_flight).collect(),
                }
            })
            .collect();
        for slot in &slots {
            if let Some(abort) = lock(&slot.state).abort.as_ref() {
                abort.abort();
            }
        }
        cut.sort_by_key(|connection| connection.peer);
        cut
    }

    /// A serve loop started, listening on `addr`: the report has a connections section from
    /// now on.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn serving(&self, addr: Option<std::net::SocketAddr>) {
        self.used.store(true, Ordering::Relaxed);
        self.sees_connections.store(true, Ordering::Relaxed);
        if let Some(addr) = addr {
            self.listening.send_modify(|addrs| addrs.push(addr));
        }
    }

    /// The addresses the serve loops listen on, as they start.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn listening(&self) -> tokio::sync::watch::Receiver<Vec<std::net::SocketAddr>> {
        self.listening.subscribe()
    }

    /// The connections section of the report, once the drain is over; `None` when nothing was
    /// ever served through the lifecycle.
    pub(crate) fn report(&self, cut: Vec<CutConnection>) -> Option<ConnectionReport> {
        if !self.used.load(Ordering::SeqCst) {
            return None;
        }
        self.mark_trigger();
        let mark = (*lock(&self.mark))?;
        let cut_total = cut.len();
        let requests_cut = self.requests_cut.load(Ordering::SeqCst);
        let mut cut = cut;
        cut.truncate(MAX_CONNECTIONS_NAMED);
        // A cut connection still registered now has outlived its abort.
        let open: Vec<SocketAddr> = lock(&self.slots).values().map(|slot| slot.peer).collect();
        for connection in &mut cut {
            connection.stopped = !open.contains(&connection.peer);
        }
        Some(ConnectionReport {
            at_trigger: mark.stats,
            requests_finished: self.finished() - mark.finished,
            connections_closed: self.closed.load(Ordering::SeqCst) - mark.closed,
            closed_reading_headers: self.reading_headers.load(Ordering::SeqCst)
                - mark.reading_headers,
            cut,
            cut_total,
            requests_cut,
            layer_requests_cut: self.layer_requests_cut.load(Ordering::SeqCst),
            connections_seen: self.sees_connections.load(Ordering::SeqCst),
        })
    }
}

// The serve loop and the layer (feature `http`) are the only callers of what follows.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl Registry {
    /// Registers a new connection from `peer` (accepted by a serve loop, which said it is
    /// [`serving`](Self::serving)); it counts as open until the handle is dropped, and the drain
    /// waits for it (it holds `drain`).
    pub(crate) fn open(
        self: &Arc<Self>,
        peer: SocketAddr,
        drain: impl Send + Sync + 'static,
    ) -> Connection {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            peer,
            registry: Arc::clone(self),
            state: Mutex::new(SlotState {
                list: Vec::new(),
                in_flight: 0,
                closed: false,
                next_request: 0,
                finished: 0,
                idle_since: Instant::now(),
                abort: None,
                upgraded: None,
            }),
            ended: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
        });
        lock(&self.slots).insert(id, Arc::clone(&slot));
        self.live.fetch_add(1, Ordering::SeqCst);
        crate::metrics::connection_opened();
        Connection {
            slot,
            id,
            http2: AtomicBool::new(false),
            spoke: AtomicBool::new(false),
            heard: AtomicBool::new(false),
            _drain: Box::new(drain),
        }
    }

    /// A request outside any connection of the serve loop (the in-flight layer): the drain
    /// waits for it (it holds `drain`) until the deadline, which counts it as cut.
    pub(crate) fn begin(self: &Arc<Self>, drain: RunningGuard) -> RequestGuard {
        self.used.store(true, Ordering::Relaxed);
        self.layer_in_flight.fetch_add(1, Ordering::SeqCst);
        crate::metrics::request_began();
        RequestGuard {
            on: On::Layer {
                registry: Arc::clone(self),
                _drain: drain,
            },
            upgraded: false,
        }
    }
}

/// One open connection, registered until dropped.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct Connection {
    slot: Arc<Slot>,
    id: u64,
    /// It speaks HTTP/2 (its first bytes were the preface): between streams it is not reading
    /// a request head.
    http2: AtomicBool,
    /// Whether its first bytes told its protocol (HTTP/1 or HTTP/2).
    spoke: AtomicBool,
    /// Whether a byte was read since the last write (a response): an HTTP/1 connection with no
    /// request in flight is then reading its next head.
    heard: AtomicBool,
    /// Held for as long as the connection lives, in its task or (upgraded) in the app's hands:
    /// the drain waits for it (the tasks' running guard, counted as running until dropped).
    _drain: Box<dyn Send + Sync>,
}

#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl Connection {
    /// How the deadline stops this connection's task.
    pub(crate) fn set_abort(&self, abort: AbortHandle) {
        lock(&self.slot.state).abort = Some(abort);
    }

    /// A request on this connection: in flight until the guard is dropped.
    pub(crate) fn begin(&self, method: &str, path: &str) -> RequestGuard {
        let number = lock(&self.slot.state).start(method, path);
        crate::metrics::request_began();
        RequestGuard {
            on: On::Connection(Arc::clone(&self.slot), number),
            upgraded: false,
        }
    }

    /// Bytes were read from it (`true`), or written to it (`false`): see
    /// [`sending_next_head`](Self::sending_next_head).
    #[inline]
    pub(crate) fn heard(&self, read: bool) {
        self.heard.store(read, Ordering::Relaxed);
    }

    /// Whether it has sent bytes since its last response while no request is in flight: an
    /// HTTP/1 connection sending its next request head (hyper counts it idle until the head is
    /// whole).
    pub(crate) fn sending_next_head(&self) -> bool {
        !self.speaks_http2() && self.heard.load(Ordering::Relaxed) && self.idle_since().is_some()
    }

    /// Its next response is to say `Connection: close` (see [`RequestGuard::closing`]).
    pub(crate) fn close_after_next_response(&self) {
        self.slot.closing.store(true, Ordering::Relaxed);
    }

    /// Its first bytes told its protocol (see [`has_spoken`](Self::has_spoken)).
    pub(crate) fn spoke(&self) {
        self.spoke.store(true, Ordering::Relaxed);
    }

    /// Whether the serve loop has read enough of it to know its protocol (a byte that is not
    /// the HTTP/2 preface's, or the whole preface): until then, its first request may be on its
    /// way (the serve loop's close waits for it rather than drop it unread).
    pub(crate) fn has_spoken(&self) -> bool {
        self.spoke.load(Ordering::Relaxed)
    }

    /// Since when the connection has had no request in flight (since it opened, or since its
    /// last response was sent); `None` while one is.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let state = lock(&self.slot.state);
        (state.in_flight == 0).then_some(state.idle_since)
    }

    /// The connection's writer flushed to its socket: the responses whose bodies had ended
    /// before are sent, and their requests over.
    #[inline]
    pub(crate) fn flushed(&self) {
        if self.slot.ended.load(Ordering::SeqCst) != 0 {
            self.take_ended();
        }
    }

    /// The requests whose response body ended before the flush are over.
    fn take_ended(&self) {
        let mut state = lock(&self.slot.state);
        let over = state.take_ended();
        self.slot.ended.fetch_sub(over, Ordering::SeqCst);
        crate::metrics::requests_over(over);
        state.finished += over as u64;
        if over > 0 && state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }

    /// Its first bytes were the HTTP/2 preface.
    pub(crate) fn set_http2(&self) {
        self.http2.store(true, Ordering::Relaxed);
    }

    /// Whether it speaks HTTP/2 (see [`set_http2`](Self::set_http2)).
    pub(crate) fn speaks_http2(&self) -> bool {
        self.http2.load(Ordering::Relaxed)
    }

    /// The drain closed it while it was still sending a request head.
    pub(crate) fn closed_reading_headers(&self) {
        let registry = &self.slot.registry;
        if !registry.sealed.load(Ordering::SeqCst) {
            registry.reading_headers.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let registry = &self.slot.registry;
        {
            // Both locks: a sum over the slots sees this one's requests here or in the
            // registry, never in both or neither.
            let mut slots = lock(&registry.slots);
            let mut state = lock(&self.slot.state);
            slots.remove(&self.id);
            state.closed = true;
            // Responses handed over and not yet flushed go with the connection (sent, or given
            // up).
            let over = state.take_ended();
            self.slot.ended.fetch_sub(over, Ordering::SeqCst);
            crate::metrics::requests_over(over);
            let finished = std::mem::take(&mut state.finished) + over as u64;
            registry.finished.fetch_add(finished, Ordering::SeqCst);
            registry
                .orphans
                .fetch_add(state.in_flight, Ordering::SeqCst);
        }
        registry.live.fetch_sub(1, Ordering::SeqCst);
        crate::metrics::connection_closed();
        if !registry.sealed.load(Ordering::SeqCst) {
            registry.closed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Where a request is counted.
enum On {
    /// On a connection of the serve loop, by its number there.
    Connection(Arc<Slot>, u64),
    /// Outside the serve loop (the in-flight layer), holding what makes the drain wait for it.
    /// A request on a connection needs none: its connection holds the drain.
    Layer {
        registry: Arc<Registry>,
        _drain: RunningGuard,
    },
}

/// A request in flight, counted until dropped with its response body, and on a connection of
/// the serve loop until that body has been flushed to the socket (see [`SlotState`]).
pub(crate) struct RequestGuard {
    on: On,
    /// Its response upgraded the connection: over once the body (empty) ended.
    upgraded: bool,
}

impl RequestGuard {
    /// Its connection is to close after this request's response (see
    /// [`Connection::close_after_next_response`]); never for a request the layer counts.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn closing(&self) -> bool {
        match &self.on {
            On::Connection(slot, _) => slot.closing.load(Ordering::Relaxed),
            On::Layer { .. } => false,
        }
    }

    /// Its response upgraded the connection: the connection is named by this request from now
    /// on, for as long as it lives.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn upgraded(&mut self) {
        self.upgraded = true;
        if let On::Connection(slot, number) = &self.on {
            let mut state = lock(&slot.state);
            let line = state
                .find(*number)
                .map(|request| request.line.to_request_line());
            state.upgraded = line;
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        match &self.on {
            On::Connection(slot, number) => {
                let mut state = lock(&slot.state);
                let (closed, upgraded) = (state.closed, self.upgraded);
                let Some(request) = state.find(*number) else {
                    return;
                };
                // On an open connection, its body ended: over once the connection flushed it.
                if !closed && !upgraded {
                    request.body_ended = true;
                    slot.ended.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                request.over = true;
                state.in_flight -= 1;
                crate::metrics::requests_over(1);
                if closed {
                    slot.registry.orphans.fetch_sub(1, Ordering::SeqCst);
                    slot.registry.finished.fetch_add(1, Ordering::SeqCst);
                } else {
                    state.finished += 1;
                    if state.in_flight == 0 {
                        state.idle_since = Instant::now();
                    }
                }
            }
            On::Layer { registry, .. } => {
                registry.layer_in_flight.fetch_sub(1, Ordering::SeqCst);
                crate::metrics::requests_over(1);
                registry.finished.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
