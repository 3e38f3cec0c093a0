//! The header-read clock of the serve loop's connections, before any shutdown: what hyper's own
//! header-read timeout did, now kept by each connection's task (see `serve_connection`); and
//! the requests on their way at the cancel, each answered.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::{body::Incoming, service::service_fn, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Config, Sequence};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A serve loop with a 2 s header-read timeout, whose service answers `GET /slow` after 5 s
/// and anything else at once.
async fn server() -> SocketAddr {
    server_until(CancellationToken::new()).await
}

/// [`server`], draining once `stop` is cancelled.
async fn server_until(stop: CancellationToken) -> SocketAddr {
    let lc = Sequence::new(Config::new()).handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = service_fn(|request: Request<Incoming>| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    });
    let serve = super::serve(&lc, listener, service)
        .header_read_timeout(TIMEOUT)
        .until(stop);
    tokio::spawn(serve.into_future());
    address
}

/// Reads one response (`ok` body, no chunking) and returns its status line.
async fn response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while !seen.ends_with(b"\r\n\r\nok") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the server closes `stream`; returns when.
async fn closed(stream: &mut TcpStream) -> Instant {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

/// [`closed`], failing (rather than waiting for ever) when the server keeps the connection open
/// ten timeouts long.
async fn closed_soon(stream: &mut TcpStream) -> Instant {
    let waited = tokio::time::timeout(TIMEOUT * 10, closed(stream)).await;
    waited.expect("the server kept the connection open")
}

#[tokio::test(start_paused = true)]
async fn a_half_sent_request_head_is_closed_at_the_header_read_timeout() {
    let address = server().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let start = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: lo")
        .await
        .unwrap();
    assert_eq!(closed_soon(&mut stream).await - start, TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_a_timeout_after_its_last_response() {
    let address = server().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A second request within the timeout: the clock starts again after its response.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    let answered = Instant::now();
    assert_eq!(closed_soon(&mut stream).await - answered, TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_request_answered_after_the_timeout_is_not_cut_by_it() {
    let address = server().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let start = Instant::now();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut stream).await, "HTTP/1.1 200 OK");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let answered = Instant::now();
    assert_eq!(closed_soon(&mut stream).await - answered, TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn an_idle_http2_connection_is_not_reading_a_head_and_stays_open() {
    let address = server().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The preface, an empty SETTINGS frame, and the acknowledgement of the server's.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut buf = [0; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        n >= 9 && buf[3] == 4,
        "the server's SETTINGS: {:?}",
        &buf[..n]
    );
    stream.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap();
    let idle = tokio::time::timeout(TIMEOUT * 5, closed(&mut stream)).await;
    assert!(
        idle.is_err(),
        "closed after {:?}",
        idle.map(|at| at.elapsed())
    );
}

/// The HTTP/2 preface, an empty SETTINGS frame, and a HEADERS frame that opens stream 1 and
/// ends it: `GET /` (HPACK: `:method GET`, `:scheme http`, `:path /` from the static table,
/// `:authority x` as a literal).
const H2_REQUEST: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
    \0\0\0\x04\0\0\0\0\0\
    \0\0\x06\x01\x05\0\0\0\x01\x82\x86\x84\x41\x01x";

/// Reads HTTP/2 frames (acknowledging the server's PINGs) until stream 1's response has ended;
/// returns its status and body.
async fn h2_response(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut status = 0;
    let mut body = Vec::new();
    loop {
        let mut head = [0; 9];
        if let Err(err) = stream.read_exact(&mut head).await {
            panic!("closed before the response ended ({err}): status {status}, body {body:?}");
        }
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags, id) = (
            head[3],
            head[4],
            u32::from_be_bytes(head[5..9].try_into().unwrap()),
        );
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.unwrap();
        match kind {
            // HEADERS: `:status 200` is index 8 of the static table.
            1 if id == 1 => status = if payload[0] == 0x88 { 200 } else { payload[0] },
            0 if id == 1 => body.extend_from_slice(&payload),
            6 if flags & 1 == 0 => {
                let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                ack.extend_from_slice(&payload);
                stream.write_all(&ack).await.unwrap();
            }
            _ => {}
        }
        if id == 1 && flags & 1 == 1 && (kind == 0 || kind == 1) {
            return (status, body);
        }
    }
}

/// Writes `first`, lets the server read it, cancels the server, and sends `rest` a second
/// later: after the cancel's 250 ms for a keep-alive connection, within the header-read clock.
async fn split_at_the_cancel(first: &[u8], rest: &[u8]) -> TcpStream {
    let stop = CancellationToken::new();
    let address = server_until(stop.clone()).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stream.write_all(rest).await.unwrap();
    stream
}

#[tokio::test(start_paused = true)]
async fn an_http2_preface_split_at_the_cancel_is_answered() {
    let mut stream = split_at_the_cancel(&H2_REQUEST[..10], &H2_REQUEST[10..]).await;
    assert_eq!(h2_response(&mut stream).await, (200, b"ok".to_vec()));
    closed_soon(&mut stream).await;
}

#[tokio::test(start_paused = true)]
async fn an_http1_request_split_at_the_cancel_is_answered() {
    // `P` could still be the preface's first byte: the protocol is not known yet.
    for (first, rest) in [
        (&b"GE"[..], &b"T / HTTP/1.1\r\nHost: x\r\n\r\n"[..]),
        (
            b"P",
            b"OST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        ),
    ] {
        let mut stream = split_at_the_cancel(first, rest).await;
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer).await;
        assert!(
            read.is_ok() && answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("ok"),
            "{:?} then {:?}: {read:?}, {answer:?}",
            String::from_utf8_lossy(first),
            String::from_utf8_lossy(rest),
        );
        assert!(answer.contains("connection: close\r\n"), "{answer:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_preface_that_stops_at_the_cancel_is_closed_at_the_header_read_timeout() {
    let stop = CancellationToken::new();
    let address = server_until(stop.clone()).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let start = Instant::now();
    stream.write_all(&H2_REQUEST[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    assert_eq!(closed_soon(&mut stream).await - start, TIMEOUT);
}
