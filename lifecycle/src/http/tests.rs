//! The header-read clock of the serve loop's connections, before any shutdown: what hyper's own
//! header-read timeout did, now kept by each connection's task (see `serve_connection`).

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::{body::Incoming, service::service_fn, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{Config, Sequence};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A serve loop with a 2 s header-read timeout, whose service answers `GET /slow` after 5 s
/// and anything else at once.
async fn server() -> SocketAddr {
    let lc = Sequence::new(Config::new()).handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = service_fn(|request: Request<Incoming>| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    });
    let serve = super::serve(&lc, listener, service).header_read_timeout(TIMEOUT);
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
