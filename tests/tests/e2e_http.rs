//! The `http_server` example as a real process, driven as Kubernetes and its clients would: real
//! HTTP requests over loopback, real signals, the exit code and the output checked from outside.
#![cfg(unix)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lifecycle_tests::{poll_until, ScratchDir, Service, PATIENCE};

const SERVER: &str = env!("CARGO_BIN_EXE_example-http_server");

/// Starts the server on a free port with `STATE_DIR` and extra environment variables, waits
/// until it is Ready; returns it and its address.
fn start(state: &ScratchDir, env: &[(&str, &str)]) -> (Service, SocketAddr) {
    let mut vars = vec![("PORT", "0"), ("STATE_DIR", state.as_str())];
    vars.extend_from_slice(env);
    let mut server = Service::start(SERVER, &[], &vars);
    let address = server.wait_for_address();
    // Ready once the pool's start hook succeeded: a signal before that is a failed start-up.
    server.wait_for("ready: the pool is connected and the listener bound");
    assert_eq!(http_get(address, "/ready").expect("/ready").status, 200);
    (server, address)
}

// ----- a plain HTTP/1.1 client on std's TcpStream, for probes and keep-alive checks -----------

/// One HTTP response, as read off the wire.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn connect(address: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    Ok(stream)
}

fn send(mut stream: &TcpStream, path: &str, close: bool) -> io::Result<()> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{connection}\r\n"
    )
}

fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<Raw> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad(&line))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (key, value) = header.split_once(':').ok_or_else(|| bad(header))?;
        headers.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .map_or(Ok(0), |(_, value)| value.parse().map_err(|_| bad(value)))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET path` on a connection of its own.
fn http_get(address: SocketAddr, path: &str) -> io::Result<Raw> {
    let stream = connect(address)?;
    send(&stream, path, true)?;
    read_response(&mut BufReader::new(stream))
}

/// Whether the server reads EOF on this connection: it closed it.
fn closed_by_server(reader: &mut BufReader<TcpStream>) -> bool {
    let mut byte = [0];
    match reader.read(&mut byte) {
        Ok(read) => read == 0,
        Err(err) => err.kind() == io::ErrorKind::ConnectionReset,
    }
}

/// `/stats`: the `/work` requests in flight and the requests served.
fn stats(address: SocketAddr) -> (usize, u64) {
    let body = http_get(address, "/stats").expect("GET /stats").body;
    let value = |name: &str| {
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no `{name}` in /stats: {body}"))
            .to_owned()
    };
    (
        value("in_flight").parse().expect("in_flight"),
        value("served").parse().expect("served"),
    )
}

// ----- hyper's client, for many requests at once ----------------------------------------------

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// One answer to a request made with hyper's client, and when it was complete.
struct Reply {
    status: StatusCode,
    connection_close: bool,
    body: String,
    at: Instant,
}

async fn fetch(client: HttpClient, address: SocketAddr, path: &str) -> Result<Reply, String> {
    let uri = format!("http://{address}{path}").parse().expect("uri");
    let response = client.get(uri).await.map_err(|err| format!("{err:?}"))?;
    let status = response.status();
    let connection_close = response
        .headers()
        .get("connection")
        .is_some_and(|value| value == "close");
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("{err:?}"))?
        .to_bytes();
    Ok(Reply {
        status,
        connection_close,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

// ----- the tests --------------------------------------------------------------------------------

#[test]
fn sigterm_mid_flight_answers_all_200_requests_then_exits_0_promptly() {
    const REQUESTS: usize = 200;
    let state = ScratchDir::new("http-mid-flight");
    // A grace period far longer than the work: the exit must follow the last response, not it.
    let (server, address) = start(
        &state,
        &[("LIFECYCLE_DRAIN_DELAY", "1s"), ("LIFECYCLE_GRACE", "60s")],
    );
    let runtime = runtime();
    let client = client();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| runtime.spawn(fetch(client.clone(), address, "/work?ms=5000")))
        .collect();
    poll_until("all 200 requests in flight", || {
        (stats(address).0 == REQUESTS).then_some(())
    });
    assert_eq!(http_get(address, "/ready").expect("/ready").status, 200);

    server.signal("TERM");
    let signalled = Instant::now();

    // Readiness fails at once, while the server still answers (the drain delay) and every slow
    // request is still running.
    poll_until("/ready answering 503", || {
        (http_get(address, "/ready").ok()?.status == 503).then_some(())
    });
    let ready_503_after = signalled.elapsed();
    assert_eq!(
        stats(address).0,
        REQUESTS,
        "/ready must fail while the requests are still in flight"
    );
    assert_eq!(
        http_get(address, "/health").expect("/health").status,
        200,
        "liveness stays 200 while draining"
    );

    // After the drain delay the listener closes: new connections are refused, while the
    // requests already in flight are still being served.
    poll_until("new connections refused", || {
        match TcpStream::connect(address) {
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    });
    let refused_after = signalled.elapsed();
    assert!(
        requests.iter().all(|request| !request.is_finished()),
        "the listener must close before the slow requests end, or this test proves nothing"
    );

    let replies: Vec<Reply> = runtime.block_on(async {
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
    let last_reply = replies.iter().map(|reply| reply.at).max().expect("replies");
    let exited = server.wait_exit();
    let exit_after_last_reply = last_reply.elapsed();

    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let mut numbers: Vec<u64> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert!(
                reply.connection_close,
                "a response sent while draining carries `Connection: close`"
            );
            let number = reply.body.strip_prefix("request ").expect("body");
            number.split(' ').next().unwrap().parse().expect("number")
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=REQUESTS as u64).collect::<Vec<_>>());

    // Hooks: persist first, then the shutdown hooks by ascending order.
    let hooks = exited.lines_starting_with("hook ");
    let last_three: Vec<&str> = hooks[hooks.len().saturating_sub(3)..]
        .iter()
        .map(|line| line.split(':').next().unwrap())
        .collect();
    assert_eq!(
        last_three,
        ["hook save-counter", "hook flush-metrics", "hook close-pool"],
        "{:?}",
        exited.stdout
    );
    assert!(exited
        .stdout
        .contains(&"hook flush-metrics: 200 requests served in this run".to_owned()));
    let saved = std::fs::read_to_string(state.path().join("http_server.counter")).unwrap();
    assert_eq!(saved, "served 200\n");

    eprintln!(
        "measured: /ready 503 {ready_503_after:?} after SIGTERM; refused {refused_after:?} after \
         SIGTERM; exit {exit_after_last_reply:?} after the last of {REQUESTS} replies"
    );
    assert!(
        exit_after_last_reply < Duration::from_secs(5),
        "exited {exit_after_last_reply:?} after the last reply, with a grace period of 60 s"
    );
}

#[test]
fn a_request_longer_than_grace_is_cut_and_the_exit_code_is_2() {
    let state = ScratchDir::new("http-grace");
    let (server, address) = start(
        &state,
        &[("LIFECYCLE_DRAIN_DELAY", "0s"), ("LIFECYCLE_GRACE", "1s")],
    );
    let runtime = runtime();
    let request = runtime.spawn(fetch(client(), address, "/work?ms=60000"));
    poll_until("the request in flight", || {
        (stats(address).0 == 1).then_some(())
    });

    server.signal("TERM");
    let exited = server.wait_exit();

    assert_eq!(
        exited.code(),
        i32::from(lifecycle::exit::EXIT_ABORTED),
        "stderr:\n{}",
        exited.stderr
    );
    eprintln!(
        "measured: exit {:?} after SIGTERM with a 1 s grace period",
        exited.exited_after
    );
    assert!(
        exited.exited_after >= Duration::from_millis(900)
            && exited.exited_after < Duration::from_secs(6),
        "the exit must come at the 1 s deadline plus a margin, not {:?}",
        exited.exited_after
    );
    // The report names what was cut: the connection, by its client, with the request it was
    // serving (the main body returned when the listener closed).
    assert!(
        exited.stderr.contains("1 cut") && exited.stderr.contains("(GET /work?ms=60000)"),
        "stderr:\n{}",
        exited.stderr
    );
    // One story: the drain line counts the cut connection, as the exit code does (it said
    // `nothing aborted` beside `1 cut` and exit code 2).
    let drain = exited
        .stderr
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with("drain ") && !line.starts_with("drain delay"))
        .unwrap_or_default();
    assert!(
        drain.ends_with(", 1 connection cut short"),
        "drain line: {drain:?}\nstderr:\n{}",
        exited.stderr
    );
    // The hooks still ran (the start hook ran long before).
    assert_eq!(
        exited
            .lines_starting_with("hook ")
            .iter()
            .filter(|line| !line.starts_with("hook connect-pool"))
            .count(),
        3,
        "{:?}",
        exited.stdout
    );
    let reply = runtime
        .block_on(async { tokio::time::timeout(PATIENCE, request).await })
        .expect("the request ends when the process does")
        .expect("the request task");
    assert!(
        reply.is_err(),
        "the request was cut, yet it was answered: {:?}",
        reply.map(|reply| reply.body)
    );
}

#[test]
fn ready_is_503_until_the_pools_start_hook_succeeded_then_200() {
    let state = ScratchDir::new("http-start-up");
    // The pool takes 1.5 s to connect; the listener is bound (and `set_ready` called) at once.
    let env = [
        ("PORT", "0"),
        ("STATE_DIR", state.as_str()),
        ("POOL_CONNECT_MS", "1500"),
    ];
    let mut server = Service::start(SERVER, &[], &env);
    let address = server.wait_for_address();
    let probe = http_get(address, "/ready").expect("/ready");
    assert_eq!(
        probe.status, 503,
        "Ready before the start hook: {}",
        probe.body
    );
    assert_eq!(
        http_get(address, "/health").expect("/health").status,
        200,
        "liveness is 200 while starting"
    );
    server.wait_for("hook connect-pool: 32 connections open");
    server.wait_for("ready: the pool is connected and the listener bound");
    assert_eq!(http_get(address, "/ready").expect("/ready").status, 200);
    assert_eq!(http_get(address, "/work?ms=0").expect("/work").status, 200);
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
}

#[test]
fn a_second_sigint_during_the_drain_exits_130_at_once() {
    let state = ScratchDir::new("http-second-signal");
    let (server, address) = start(
        &state,
        &[("LIFECYCLE_DRAIN_DELAY", "60s"), ("LIFECYCLE_GRACE", "60s")],
    );
    server.signal("INT");
    poll_until("/ready answering 503", || {
        (http_get(address, "/ready").ok()?.status == 503).then_some(())
    });
    // A repeat within the repeat window (50 ms) is the same delivery; a person's second Ctrl-C
    // comes later than that.
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 130, "stderr:\n{}", exited.stderr);
    eprintln!(
        "measured: exit {:?} after the second SIGINT",
        exited.exited_after
    );
    assert!(
        exited.exited_after < Duration::from_secs(10),
        "a second signal must not wait for the 60 s drain delay: {:?}",
        exited.exited_after
    );
}

#[test]
fn keep_alive_clients_are_told_to_close_and_an_idle_one_does_not_hold_the_drain() {
    let state = ScratchDir::new("http-keep-alive");
    let (server, address) = start(
        &state,
        &[("LIFECYCLE_DRAIN_DELAY", "2s"), ("LIFECYCLE_GRACE", "60s")],
    );
    // Two keep-alive connections, each with one request answered.
    let mut idle = BufReader::new(connect(address).unwrap());
    let mut busy = BufReader::new(connect(address).unwrap());
    for connection in [&mut idle, &mut busy] {
        send(connection.get_ref(), "/health", false).unwrap();
        let response = read_response(connection).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("connection"),
            None,
            "keep-alive while ready"
        );
    }

    server.signal("TERM");
    poll_until("/ready answering 503", || {
        (http_get(address, "/ready").ok()?.status == 503).then_some(())
    });

    // While draining, a request on a kept-alive connection is answered and told to close, and
    // the server closes the connection after it.
    send(busy.get_ref(), "/work?ms=10", false).unwrap();
    let response = read_response(&mut busy).unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        closed_by_server(&mut busy),
        "the server closes it after the answer"
    );

    // The idle connection is still open on our side: it must not keep the process alive.
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    eprintln!(
        "measured: exit {:?} after /ready turned 503, with a 2 s drain delay and an idle \
         keep-alive connection open",
        exited.exited_after
    );
    assert!(
        exited.exited_after < Duration::from_secs(10),
        "an idle keep-alive connection held the drain: exit after {:?} (grace 60 s)",
        exited.exited_after
    );
    assert!(closed_by_server(&mut idle));
}

#[test]
fn the_request_counter_survives_a_restart() {
    let state = ScratchDir::new("http-counter");
    let counter = state.path().join("http_server.counter");

    let (server, address) = start(&state, &[("LIFECYCLE_DRAIN_DELAY", "0s")]);
    for expected in 1..=3 {
        let body = http_get(address, "/work?ms=0").unwrap().body;
        assert_eq!(body, format!("request {expected} done after 0ms\n"));
    }
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "served 3\n");

    let (server, address) = start(&state, &[("LIFECYCLE_DRAIN_DELAY", "0s")]);
    let body = http_get(address, "/work?ms=0").unwrap().body;
    assert_eq!(body, "request 4 done after 0ms\n", "the count goes on");
    server.signal("TERM");
    let exited = server.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    assert!(exited
        .stdout
        .iter()
        .any(|line| line.starts_with("restored 3 served requests")));
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "served 4\n");
}
