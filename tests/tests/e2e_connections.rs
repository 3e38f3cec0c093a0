//! The lifecycle's own serve loop (`lifecycle::axum::serve`) as a real process, against real
//! clients over loopback and real signals: many slow requests, idle keep-alive connections,
//! half-sent requests, stuck requests cut at the deadline, HTTP/2 streams across a GOAWAY, and
//! a server-sent events stream that ends at the cancel. The report (on stderr) is checked for
//! the counts and the names it gives.
#![cfg(unix)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use lifecycle_tests::{poll_until, Service, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER: &str = env!("CARGO_BIN_EXE_conn_server");
const STREAMING: &str = env!("CARGO_BIN_EXE_example-streaming");

/// What a loaded machine may add to a bound.
const SLACK: Duration = Duration::from_secs(3);

fn start(program: &str, env: &[(&str, &str)]) -> (Service, SocketAddr) {
    let mut vars = vec![("PORT", "0")];
    vars.extend_from_slice(env);
    let mut server = Service::start(program, &[], &vars);
    let address = server.wait_for_address();
    (server, address)
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// Reads one response with a `content-length` off a keep-alive connection: status and body.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            if key.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("content-length");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Whether the server has closed this connection (EOF or reset), waiting at most `limit`.
fn closed_within(stream: &TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0];
    match (&*stream).read(&mut byte) {
        Ok(read) => read == 0,
        Err(err) => err.kind() == io::ErrorKind::ConnectionReset,
    }
}

/// `/stats`: the server's open connections and requests in flight, this request included.
fn stats(address: SocketAddr) -> (usize, usize) {
    let mut stream = connect(address);
    write!(
        stream,
        "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let (_, body) = read_response(&mut BufReader::new(stream));
    let value = |name: &str| -> usize {
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no `{name}` in /stats: {body}"))
    };
    (value("connections"), value("in_flight"))
}

/// The report's connections line: `N open, M requests in flight at the trigger; ...`.
fn connections_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("connections"))
        .map(str::trim_start)
        .unwrap_or_else(|| panic!("no connections line in the report:\n{stderr}"))
}

/// Asserts that the report counted `expected` at the trigger, or one more: the `/stats` request
/// that told the test to send SIGTERM is counted until its server side has ended, a moment after
/// its client read the answer (seen under load: `6 requests in flight` for 5 streams).
#[track_caller]
fn assert_counted_at_trigger(line: &str, label: &str, expected: usize) {
    let counted = count_before(line, label);
    assert!(
        counted == expected || counted == expected + 1,
        "expected {expected}{label} (or one more, the last /stats request): {line}"
    );
}

/// A number in `line` just before `label` (`"2000 requests in flight"` -> 2000 for
/// `" requests in flight"`).
fn count_before(line: &str, label: &str) -> usize {
    let end = line
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in `{line}`"));
    let digits = line[..end]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or_default();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before `{label}` in `{line}`"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `GET path` on a connection of its own (`Connection: close`): the status and the body, and
/// when the answer was complete.
async fn get_alone(address: SocketAddr, path: String) -> io::Result<(u16, String, Instant)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let at = Instant::now();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| io::Error::other(format!("no status in {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_owned(), at))
}

// ----- the tests --------------------------------------------------------------------------------

#[test]
fn two_thousand_slow_requests_in_flight_at_sigterm_are_all_answered_and_none_is_cut() {
    const REQUESTS: usize = 2000;
    let (server, address) = start(SERVER, &[("LIFECYCLE_GRACE", "60s")]);
    let runtime = runtime();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| runtime.spawn(get_alone(address, "/after_trigger?ms=1000".to_owned())))
        .collect();
    poll_until("all requests in flight", || {
        (stats(address).1 == REQUESTS + 1).then_some(())
    });

    server.signal("TERM");
    let replies = runtime.block_on(async {
        let mut replies = Vec::new();
        for request in requests {
            let reply = tokio::time::timeout(PATIENCE, request)
                .await
                .expect("a reply within the patience bound")
                .expect("the request task")
                .unwrap_or_else(|err| panic!("a request in flight failed: {err}"));
            replies.push(reply);
        }
        replies
    });
    let last_reply = replies.iter().map(|reply| reply.2).max().expect("replies");
    let exited = server.wait_exit();
    let exit_after_last_reply = last_reply.elapsed();

    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    for (status, body, _) in &replies {
        assert_eq!((*status, body.as_str()), (200, "done"));
    }
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " requests in flight at the trigger", REQUESTS);
    assert!(count_before(line, " open") >= REQUESTS, "{line}");
    assert!(
        count_before(line, " requests finished") >= REQUESTS,
        "{line}"
    );
    assert!(line.ends_with(" 0 cut"), "{line}");
    eprintln!(
        "measured: exit {exit_after_last_reply:?} after the last of {REQUESTS} replies ({line})"
    );
    assert!(exit_after_last_reply < Duration::from_secs(5));
}

#[test]
fn idle_keep_alive_connections_are_closed_at_the_cancel_not_at_the_deadline() {
    const IDLE: usize = 5;
    // A header-read timeout and a grace far above the bound: only the cancel can close them.
    let (server, address) = start(
        SERVER,
        &[
            ("LIFECYCLE_GRACE", "30s"),
            ("HEADER_READ_TIMEOUT_MS", "20000"),
        ],
    );
    let idle: Vec<BufReader<TcpStream>> = (0..IDLE)
        .map(|_| {
            let mut reader = BufReader::new(connect(address));
            write!(
                reader.get_mut(),
                "GET /slow?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            .unwrap();
            assert_eq!(read_response(&mut reader), (200, "done".to_owned()));
            reader
        })
        .collect();
    poll_until("the idle connections counted", || {
        (stats(address) == (IDLE + 1, 1)).then_some(())
    });

    server.signal("TERM");
    let signalled = Instant::now();
    for reader in &idle {
        assert!(
            closed_within(reader.get_ref(), SLACK),
            "an idle keep-alive connection was still open {SLACK:?} after SIGTERM"
        );
    }
    let closed_after = signalled.elapsed();
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let line = connections_line(&exited.stderr);
    assert!(count_before(line, " open") >= IDLE, "{line}");
    assert_counted_at_trigger(line, " requests in flight", 0);
    assert!(line.ends_with(" 0 cut"), "{line}");
    eprintln!("measured: {IDLE} idle connections closed {closed_after:?} after SIGTERM");
}

#[test]
fn half_sent_requests_hold_the_drain_no_longer_than_the_header_read_timeout() {
    const HALF_SENT: usize = 3;
    let (server, address) = start(
        SERVER,
        &[
            ("LIFECYCLE_GRACE", "30s"),
            ("HEADER_READ_TIMEOUT_MS", "2000"),
        ],
    );
    let stalled: Vec<TcpStream> = (0..HALF_SENT)
        .map(|_| {
            let mut stream = connect(address);
            stream
                .write_all(b"GET /slow HTTP/1.1\r\nHost: loc")
                .unwrap();
            stream
        })
        .collect();
    poll_until("the half-sent connections counted", || {
        (stats(address).0 == HALF_SENT + 1).then_some(())
    });

    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    eprintln!(
        "measured: exit {:?} after SIGTERM with {HALF_SENT} half-sent requests (header-read \
         timeout 2 s, grace 30 s)",
        exited.exited_after
    );
    assert!(
        exited.exited_after < Duration::from_secs(2) + SLACK,
        "the half-sent requests held the drain: {:?}",
        exited.exited_after
    );
    let line = connections_line(&exited.stderr);
    assert!(
        line.contains(&format!(
            "({HALF_SENT} closed while still sending a request head)"
        )),
        "{line}"
    );
    assert!(line.contains(" 0 cut"), "{line}");
    for stream in &stalled {
        assert!(closed_within(stream, SLACK));
    }
}

#[test]
fn ten_stuck_requests_at_the_deadline_exit_2_and_are_named_with_their_paths() {
    const STUCK: usize = 10;
    let (server, address) = start(SERVER, &[("LIFECYCLE_GRACE", "1s")]);
    let stuck: Vec<TcpStream> = (0..STUCK)
        .map(|n| {
            let mut stream = connect(address);
            write!(stream, "GET /stuck?n={n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            stream
        })
        .collect();
    poll_until("the stuck requests in flight", || {
        (stats(address).1 == STUCK + 1).then_some(())
    });

    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_ABORTED),
        "stderr:\n{}",
        exited.stderr
    );
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " requests in flight", STUCK);
    assert!(line.ends_with(&format!(" {STUCK} cut")), "{line}");
    for (n, stream) in stuck.iter().enumerate() {
        let named = format!("{} (GET /stuck?n={n})", stream.local_addr().unwrap());
        assert!(
            exited.stderr.contains(&named),
            "`{named}` not in the report:\n{}",
            exited.stderr
        );
    }
    // Their connection tasks were aborted, and stopped: the report says none was left running.
    assert!(!exited.stderr.contains("left running"), "{}", exited.stderr);
}

#[test]
fn a_response_the_client_never_reads_is_in_flight_and_named_when_cut() {
    // Before the fix the request was over once hyper had taken the body's only frame: the
    // report said `0 requests in flight` and named the cut connection without its request,
    // while 64 MiB sat unsent in the server's buffer.
    let (mut server, address) = start(SERVER, &[("LIFECYCLE_GRACE", "1s")]);
    let mut reader = connect(address);
    write!(reader, "GET /big?mib=64 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    server.wait_for("big body handed over");
    // The body is handed over; what the socket takes is written, the rest waits for a reader.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stats(address).1,
        2,
        "the unread response and /stats in flight"
    );

    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_ABORTED),
        "stderr:\n{}",
        exited.stderr
    );
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " requests in flight", 1);
    assert!(line.ends_with(" 1 cut"), "{line}");
    let named = format!("{} (GET /big?mib=64)", reader.local_addr().unwrap());
    assert!(
        exited.stderr.contains(&named),
        "`{named}` not in the report:\n{}",
        exited.stderr
    );
    drop(reader);
}

#[test]
fn h2c_streams_open_at_sigterm_finish_after_the_goaway() {
    const STREAMS: usize = 5;
    let (server, address) = start(SERVER, &[("LIFECYCLE_GRACE", "30s")]);
    let runtime = runtime();
    let request = |path: &str| {
        axum::http::Request::get(format!("http://{address}{path}"))
            .body(())
            .expect("request")
    };
    let (client, connection, responses) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let (client, connection) = h2::client::handshake(tcp).await.expect("h2c handshake");
        let connection = tokio::spawn(connection);
        let mut client = client.ready().await.expect("ready");
        let responses: Vec<_> = (0..STREAMS)
            .map(|_| {
                let (response, _) = client
                    .send_request(request("/slow?ms=2000"), true)
                    .expect("open a stream");
                response
            })
            .collect();
        (client, connection, responses)
    });
    poll_until("the streams in flight", || {
        (stats(address).1 == STREAMS + 1).then_some(())
    });

    server.signal("TERM");
    let refused = runtime.block_on(async {
        // After the GOAWAY the connection takes no new stream.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let attempt = async {
                let mut client = client.clone().ready().await?;
                let (response, _) = client.send_request(request("/slow?ms=0"), true)?;
                response.await
            };
            match attempt.await {
                Err(err) => break err,
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(_) => panic!("the connection still took new streams {PATIENCE:?} later"),
            }
        }
    });
    eprintln!("a new stream after SIGTERM: {refused:?}");
    assert!(refused.is_go_away(), "not refused by a GOAWAY: {refused:?}");

    let bodies = runtime.block_on(async {
        let mut bodies = Vec::new();
        for response in responses {
            let response = response.await.expect("an open stream finished");
            assert_eq!(response.status(), 200);
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk: Bytes = chunk.expect("body");
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            bodies.push(String::from_utf8(bytes).expect("utf-8"));
        }
        let closed = tokio::time::timeout(PATIENCE, connection).await;
        (bodies, closed)
    });
    assert_eq!(bodies.0, vec!["done"; STREAMS]);
    assert!(
        matches!(bodies.1, Ok(Ok(Ok(())))),
        "the connection did not end cleanly: {:?}",
        bodies.1
    );
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " requests in flight", STREAMS);
    assert!(line.ends_with(" 0 cut"), "{line}");
}

#[test]
fn an_sse_stream_ends_cleanly_at_the_cancel_and_does_not_hold_the_drain() {
    let (server, address) = start(STREAMING, &[("TICK_MS", "50")]);
    let mut events = BufReader::new(connect(address));
    write!(events.get_mut(), "GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = String::new();
    while seen.matches("event: tick").count() < 2 {
        let mut line = String::new();
        assert!(events.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }

    server.signal("TERM");
    let mut rest = String::new();
    events.read_to_string(&mut rest).expect("the stream ends");
    assert!(rest.contains("event: bye"), "{rest}");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the chunked body must end with its last chunk, not a cut: {rest:?}"
    );
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited.exited_after < SLACK,
        "the stream held the drain: {:?} (grace 10 s)",
        exited.exited_after
    );
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " requests in flight", 1);
    assert!(line.ends_with(" 0 cut"), "{line}");
}

#[test]
fn a_websocket_gets_a_close_frame_at_the_cancel_and_does_not_hold_the_drain() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;

    let (server, address) = start(STREAMING, &[]);
    let runtime = runtime();
    let mut socket = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let (mut socket, _) = tokio_tungstenite::client_async(format!("ws://{address}/echo"), tcp)
            .await
            .expect("WebSocket handshake");
        socket.send(Message::text("hello")).await.expect("send");
        let echoed = socket.next().await.expect("an answer").expect("a message");
        assert_eq!(echoed, Message::text("hello"));
        socket
    });
    // The upgraded connection is still open, and counted, after hyper handed it over.
    assert_eq!(
        stats(address).0,
        2,
        "the WebSocket and this /stats connection"
    );

    server.signal("TERM");
    let close = runtime.block_on(async {
        loop {
            match tokio::time::timeout(PATIENCE, socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    });
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "shutting down");
    // The client answers the close (tungstenite does it on the next poll); the server then drops it.
    runtime.block_on(async {
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, socket.next()).await {}
    });
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(
        exited.exited_after < SLACK,
        "the WebSocket held the drain: {:?} (grace 10 s)",
        exited.exited_after
    );
    let line = connections_line(&exited.stderr);
    assert_counted_at_trigger(line, " open", 1);
    assert!(line.ends_with(" 0 cut"), "{line}");
}

#[test]
fn a_websocket_ignoring_the_cancel_is_named_upgraded_and_left_running_at_the_deadline() {
    let (server, address) = start(SERVER, &[("LIFECYCLE_GRACE", "1s")]);
    let runtime = runtime();
    let (socket, local) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let local = tcp.local_addr().expect("local address");
        let (socket, _) = tokio_tungstenite::client_async(format!("ws://{address}/ws"), tcp)
            .await
            .expect("WebSocket handshake");
        (socket, local)
    });
    poll_until("the WebSocket counted", || {
        (stats(address).0 == 2).then_some(())
    });

    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_ABORTED),
        "stderr:\n{}",
        exited.stderr
    );
    // The socket lives in the task axum's upgrade spawned, which the deadline cannot abort:
    // the report must not claim it was closed.
    let named = format!("{local} (GET /ws) upgraded, left running");
    assert!(
        exited.stderr.contains(&named),
        "`{named}` not in the report:\n{}",
        exited.stderr
    );
    drop(socket);
}

/// The report's drain line: `1.001s, main and 1 request cut short`.
fn drain_line(stderr: &str) -> &str {
    stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("drain "))
        .find(|rest| !rest.starts_with("delay"))
        .map(str::trim_start)
        .unwrap_or_else(|| panic!("no drain line in the report:\n{stderr}"))
}

#[test]
fn a_request_counted_by_the_in_flight_layer_alone_and_cut_at_the_deadline_exits_2() {
    // A server the lifecycle does not run, `axum::serve` with axum's own graceful shutdown,
    // its requests counted by `InFlightLayer`: awaited by main (`axum`), or spawned with
    // `tokio::spawn` while main returns at the cancel (`axum_spawned`). A 60 s request under
    // a 1 s grace is work cut short either way.
    for (serve, main) in [("axum", "main and "), ("axum_spawned", "")] {
        let (server, address) = start(SERVER, &[("SERVE", serve), ("LIFECYCLE_GRACE", "1s")]);
        let mut slow = connect(address);
        write!(slow, "GET /slow?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        poll_until("the slow request in flight", || {
            (stats(address).1 == 2).then_some(())
        });

        let signalled = Instant::now();
        server.signal("TERM");
        let exited = server.wait_exit();
        let took = signalled.elapsed();
        let stderr = &exited.stderr;
        assert_eq!(
            exited.code(),
            i32::from(lifecycle::exit::EXIT_ABORTED),
            "{serve}: stderr:\n{stderr}"
        );
        let drain = drain_line(stderr);
        assert!(
            drain.ends_with(&format!(", {main}1 request cut short")),
            "{serve}: {drain}"
        );
        assert!(
            stderr.contains(
                "  requests      1 in flight at the trigger; 0 finished, 1 still in flight at the deadline"
            ),
            "{serve}: {stderr}"
        );
        // The drain waited out the grace for it, also when nothing else held it.
        assert!(
            took >= Duration::from_secs(1),
            "{serve}: exit after {took:?}"
        );
        assert!(
            took < Duration::from_secs(1) + SLACK,
            "{serve}: exit after {took:?}"
        );
    }
}
