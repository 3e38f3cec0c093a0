//! A server-sent events stream and a WebSocket that end cleanly at the shutdown, instead of
//! holding the drain until the grace deadline cuts them: the two most reported ways a Rust service
//! hangs on shutdown.
//!
//! A streamed response is a request in flight until its body ends, and an upgraded connection is
//! open until the app drops its socket; the lifecycle's serve loop waits for both, like for any
//! slow request. A stream that never ends (the usual SSE handler) or a WebSocket loop that only
//! reads would be cut at the deadline: exit code 2, the connection named in the report. Here both
//! watch `lc.token()`: at the cancel the stream sends a last `bye` event and ends, and the
//! WebSocket sends a close frame (1001, going away); the clients see a clean end (and can
//! reconnect elsewhere), and the process exits at once.
//!
//! ```text
//! cargo run -p lifecycle-examples --bin streaming
//! curl -N localhost:3001/events          # event: tick, every second
//! websocat ws://localhost:3001/echo      # echoes each line
//! kill -TERM $(pgrep -x streaming)       # curl prints `event: bye`; websocat sees the close
//! ```
//!
//! Environment: `PORT` (3001; `0` picks a free port), `TICK_MS` (1000), and the runtime's
//! `LIFECYCLE_*` variables. `GET /stats` shows the open connections and requests in flight.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use lifecycle::{CancellationToken, Lifecycle};

/// `GET /events`: a `tick` event every `TICK_MS`, until the drain starts; then `bye`, and the end.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    /// Where the stream is: ticking (with the next number), or done.
    enum Step {
        Tick(u64),
        Done,
    }
    let (token, tick) = (app.lc.token(), app.tick);
    let stream = futures_util::stream::unfold(Step::Tick(0), move |step| {
        let token: CancellationToken = token.clone();
        async move {
            let Step::Tick(n) = step else { return None };
            tokio::select! {
                () = token.cancelled() => {
                    let bye = Event::default().event("bye").data("shutting down");
                    Some((Ok(bye), Step::Done))
                }
                () = tokio::time::sleep(tick) => {
                    let event = Event::default().event("tick").data(n.to_string());
                    Some((Ok(event), Step::Tick(n + 1)))
                }
            }
        }
    });
    Sse::new(stream)
}

/// `GET /echo`: a WebSocket that echoes every text message until the drain starts, then sends a
/// close frame (1001, going away) and waits for the client's.
async fn echo(State(app): State<App>, ws: WebSocketUpgrade) -> Response {
    let token = app.lc.token();
    ws.on_upgrade(move |socket| serve_echo(socket, token))
}

async fn serve_echo(mut socket: WebSocket, token: CancellationToken) {
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {} // pings are answered by the socket; binary is ignored
            },
        }
    }
    let close = CloseFrame {
        code: close_code::AWAY,
        reason: "shutting down".into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // The closing handshake: the client's own close frame ends it (or the drain's deadline).
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

/// `GET /stats`: the connections and requests the lifecycle counts (this request included).
async fn stats(State(app): State<App>) -> String {
    let stats = app.lc.stats();
    format!(
        "connections {}\nin_flight {}\n",
        stats.connections, stats.in_flight
    )
}

#[derive(Clone)]
struct App {
    lc: Lifecycle,
    tick: Duration,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[lifecycle::main(grace = "10s")]
async fn main(lc: Lifecycle) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let port: u16 = env_or("PORT", "3001")
        .parse()
        .map_err(|_| invalid("PORT must be a port number (0 picks a free one)"))?;
    let tick_ms: u64 = env_or("TICK_MS", "1000")
        .parse()
        .map_err(|_| invalid("TICK_MS must be a whole number of milliseconds"))?;
    let app = App {
        lc: lc.clone(),
        tick: Duration::from_millis(tick_ms.max(1)),
    };
    let router = Router::new()
        .route("/events", get(events))
        .route("/echo", get(echo))
        .route("/stats", get(stats))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    lifecycle::axum::serve(&lc, listener, router).await?;
    println!("server stopped accepting");
    Ok(())
}
