//! Connections to upstreams that fail and are restarted while the service keeps serving.
//!
//! What it shows:
//!
//! - one [`Scope`] per connection, `upstream/eu-1` and `upstream/us-1`, each with three tasks:
//!   a `writer` that sends requests, a `reader` that takes the replies, and a critical
//!   `heartbeat` that pings and expects a pong. Their tasks are named by path
//!   (`upstream/eu-1/heartbeat`) in the logs and the report;
//! - the connection's scope is made with `keep_failures()`: when the heartbeat fails (an `Err`,
//!   or a panic), the failure shuts that scope down, not the service. The reader and the writer
//!   see the scope's token cancelled and return; `join()` returns the failure, which the
//!   connection's manager prints (telling a panic from an error with `is_panic()`) and then
//!   reconnects: a new scope, new tasks;
//! - failures handled that way leave the exit code alone: at SIGTERM the service exits 0, and
//!   the report counts them (`handled N task failures`) without listing them as failures.
//!
//! The upstreams are simulated in-process: each connection has a peer task that answers
//! requests and pings, and stops answering pings after `FAIL_HEARTBEAT_AFTER_MS`. Then `eu-1`'s
//! heartbeat returns an error (`no pong`), and `us-1`'s panics (a stand-in for a bug).
//!
//! ```text
//! PORT=3000 FAIL_HEARTBEAT_AFTER_MS=2000 cargo run -p lifecycle-examples --bin upstream
//! curl localhost:3000/status     # each connection: attempt, replies read
//! # Ctrl-C: exit code 0, and "handled N task failures" in the report on stderr
//! ```
//!
//! Environment: `FAIL_HEARTBEAT_AFTER_MS` (how long a connection's peer answers pings, 2000;
//! `0` never stops), `PORT` (3000; `0` picks a free port), and the runtime's `LIFECYCLE_*`
//! variables.
//!
//! Output (stdout), one line each: `listening on ADDRESS`, `upstream/NAME connected (attempt
//! N)`, `upstream/NAME/heartbeat failed: ERROR` or `upstream/NAME/heartbeat panicked: MESSAGE`,
//! `upstream/NAME reconnecting`, `upstream/NAME closed` (at the shutdown).
//!
//! Its expansion, the code the attributes generate, is in `expanded/upstream.rs`.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use lifecycle::tasks::JoinError;
use lifecycle::{CancellationToken, Lifecycle, Scope};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

/// How often the heartbeat pings, and how long it waits for the pong.
const PING_EVERY: Duration = Duration::from_millis(100);
const PONG_WITHIN: Duration = Duration::from_millis(300);
/// How long a manager waits before it reconnects.
const BACKOFF: Duration = Duration::from_millis(100);

/// What goes over a connection.
#[derive(Debug)]
enum Frame {
    Request,
    Reply,
    Ping(u64),
    Pong(u64),
}

/// What `/status` shows of one connection: its current attempt, and the replies read on it.
#[derive(Default, Clone)]
struct Status {
    attempt: u64,
    replies: u64,
}

type Board = Arc<Mutex<BTreeMap<String, Status>>>;

fn update(board: &Board, path: &str, change: impl FnOnce(&mut Status)) {
    let mut board = board.lock().unwrap_or_else(PoisonError::into_inner);
    change(board.entry(path.to_owned()).or_default());
}

/// The simulated upstream: replies to every request, and to pings until `fail_after` (if any).
async fn peer(
    mut inbox: mpsc::Receiver<Frame>,
    outbox: mpsc::Sender<Frame>,
    fail_after: Option<Duration>,
    token: CancellationToken,
) {
    let silent_from = fail_after.map(|after| Instant::now() + after);
    loop {
        let frame = tokio::select! {
            () = token.cancelled() => return,
            frame = inbox.recv() => frame,
        };
        let reply = match frame {
            None => return,
            Some(Frame::Request) => Frame::Reply,
            Some(Frame::Ping(seq)) if silent_from.is_none_or(|from| Instant::now() < from) => {
                Frame::Pong(seq)
            }
            Some(_) => continue, // gone quiet: pings go unanswered
        };
        if outbox.send(reply).await.is_err() {
            return;
        }
    }
}

/// Sends a request every 50 ms until the connection's scope is stopped.
async fn writer(to_peer: mpsc::Sender<Frame>, token: CancellationToken) -> Result<(), String> {
    while timeout(Duration::from_millis(50), token.cancelled())
        .await
        .is_err()
    {
        to_peer
            .send(Frame::Request)
            .await
            .map_err(|_| "the connection is closed".to_owned())?;
    }
    Ok(())
}

/// Reads replies (counted on the board) and pongs (handed to the heartbeat).
async fn reader(
    mut from_peer: mpsc::Receiver<Frame>,
    pongs: watch::Sender<u64>,
    board: Board,
    path: String,
    token: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            () = token.cancelled() => return,
            frame = from_peer.recv() => frame,
        };
        match frame {
            None => return,
            Some(Frame::Reply) => update(&board, &path, |status| status.replies += 1),
            Some(Frame::Pong(seq)) => {
                pongs.send_replace(seq);
            }
            Some(other) => tracing::warn!(?other, "unexpected frame from the upstream"),
        };
    }
}

/// Pings every 100 ms and waits for the pong. Critical in a scope that keeps its failures: its
/// failure shuts the connection down (and only it).
async fn heartbeat(
    to_peer: mpsc::Sender<Frame>,
    mut pongs: watch::Receiver<u64>,
    panics: bool,
    token: CancellationToken,
) -> Result<(), String> {
    let mut seq = 0;
    while timeout(PING_EVERY, token.cancelled()).await.is_err() {
        seq += 1;
        to_peer
            .send(Frame::Ping(seq))
            .await
            .map_err(|_| "the connection is closed".to_owned())?;
        let pong = timeout(PONG_WITHIN, pongs.wait_for(|last| *last >= seq)).await;
        if pong.is_err() && !token.is_cancelled() {
            let problem = format!("no pong for ping {seq} within {PONG_WITHIN:?}");
            if panics {
                // Stands in for a bug: a panic is kept and handled like an error.
                panic!("{problem}");
            }
            return Err(problem);
        }
    }
    Ok(())
}

/// One connection: its scope, the simulated peer, and the three tasks.
fn connect(upstream: &Scope, name: &str, fail_after: Option<Duration>, board: &Board) -> Scope {
    let connection = upstream.scope(name).keep_failures();
    let path = connection.path().to_owned();
    let (to_peer, peer_inbox) = mpsc::channel(16);
    let (peer_outbox, from_peer) = mpsc::channel(16);
    let (pongs, pong_watch) = watch::channel(0);
    let peer_task = peer(peer_inbox, peer_outbox, fail_after, connection.token());
    connection.task("peer (simulated)").spawn(peer_task);
    let read = reader(from_peer, pongs, board.clone(), path, connection.token());
    connection.task("reader").spawn(read);
    connection
        .task("writer")
        .spawn(writer(to_peer.clone(), connection.token()));
    let beat = heartbeat(to_peer, pong_watch, name == "us-1", connection.token());
    connection.task("heartbeat").critical().spawn(beat);
    connection
}

/// Keeps the connection to `name` up: connects, waits for the connection's scope to end, prints
/// what failed, and reconnects, until the service stops.
async fn manage(upstream: Scope, name: &'static str, fail_after: Option<Duration>, board: Board) {
    let stopping = upstream.token();
    for attempt in 1.. {
        let connection = connect(&upstream, name, fail_after, &board);
        let path = connection.path().to_owned();
        update(&board, &path, |status| {
            *status = Status {
                attempt,
                replies: 0,
            }
        });
        println!("{path} connected (attempt {attempt})");
        // Returns once every task of the connection has ended: the heartbeat failed (and the
        // kept failure shut the scope down), or the service is stopping.
        match connection.join().await {
            Ok(()) => {}
            Err(JoinError::Failed(failures)) => {
                for failure in failures {
                    // A panic is a bug in this service rather than the upstream's doing: a real
                    // service would alert on it, and still reconnect.
                    match failure.first.panic_message() {
                        Some(message) => println!("{} panicked: {message}", failure.task),
                        None => println!("{} failed: {:#}", failure.task, failure.first),
                    }
                }
            }
            Err(other) => println!("{path}: {other}"),
        }
        if timeout(BACKOFF, stopping.cancelled()).await.is_ok() {
            println!("{path} closed");
            return;
        }
        println!("{path} reconnecting");
    }
}

/// `GET /status`: one line a connection.
async fn status(State(board): State<Board>) -> String {
    let board = board.lock().unwrap_or_else(PoisonError::into_inner);
    board
        .iter()
        .map(|(path, status)| {
            format!(
                "{path} attempt {} replies {}\n",
                status.attempt, status.replies
            )
        })
        .collect()
}

fn env_number(name: &str, default: u64) -> io::Result<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} must be a whole number, not `{value}`"),
            )
        }),
    }
}

/// Counts the requests served, to show the service kept serving.
static SERVED: AtomicU64 = AtomicU64::new(0);

#[lifecycle::main(grace = "5s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let fail_after = match env_number("FAIL_HEARTBEAT_AFTER_MS", 2000)? {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let port = u16::try_from(env_number("PORT", 3000)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PORT must be a port number"))?;
    let board = Board::default();

    let upstream = lc.scope("upstream");
    for name in ["eu-1", "us-1"] {
        let managed = manage(upstream.clone(), name, fail_after, board.clone());
        upstream.task(format!("manager {name}")).spawn(managed);
    }

    let router = Router::new()
        .route(
            "/status",
            get(|state| async {
                SERVED.fetch_add(1, Ordering::Relaxed);
                status(state).await
            }),
        )
        .with_state(board);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    lifecycle::axum::serve(&lc, listener, router).await?;
    println!(
        "http stopped after {} requests",
        SERVED.load(Ordering::Relaxed)
    );
    Ok(())
}
