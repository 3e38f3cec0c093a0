//! The header-read clock of the serve loop's connections, before any shutdown: what hyper's own
//! header-read timeout did, now kept by each connection's task (see `serve_connection`); and
//! the requests on their way at the cancel, each answered.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use hyper::{body::Incoming, service::service_fn, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Config, Sequence};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A serve loop with a 2 s header-read timeout, whose service reads the request's body and
/// answers `/slow` 5 s later, anything else at once.
async fn server() -> SocketAddr {
    server_until(CancellationToken::new()).await
}

/// [`server`], draining once `stop` is cancelled.
async fn server_until(stop: CancellationToken) -> SocketAddr {
    let lc = Sequence::new(Config::new()).handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = service_fn(|request: Request<Incoming>| async move {
        let slow = request.uri().path() == "/slow";
        let mut body = request.into_body();
        while let Some(frame) =
            std::future::poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut body), cx)).await
        {
            frame?;
        }
        if slow {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok::<_, hyper::Error>(Response::new("ok".to_owned()))
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

/// Sends `first` before the cancel and `rest` a second after it (after the cancel's 250 ms for
/// a keep-alive connection, within the header-read timeout).
async fn split_at_the_cancel(first: &[u8], rest: &[u8], check: impl AsyncFnOnce(&mut TcpStream)) {
    at_the_cancel(
        async |stream: &mut TcpStream| stream.write_all(first).await.unwrap(),
        async |stream: &mut TcpStream| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stream.write_all(rest).await.unwrap();
            check(stream).await;
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_http2_preface_split_at_the_cancel_is_answered() {
    // Within the preface (the protocol not known yet), after it, after the SETTINGS, and
    // within the HEADERS frame.
    for at in [10, 24, 33, 36] {
        split_at_the_cancel(&H2_REQUEST[..at], &H2_REQUEST[at..], async |stream| {
            assert_eq!(
                h2_response(stream).await,
                (200, b"ok".to_vec()),
                "split at {at}"
            );
            closed_soon(stream).await;
        })
        .await;
    }
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
        split_at_the_cancel(first, rest, async |stream| {
            answered_and_closed(&everything(stream).await);
        })
        .await;
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

/// Starts a server, runs `before` on a connection to it, cancels 100 ms later, runs `after`.
async fn at_the_cancel<B, A>(before: B, after: A)
where
    B: AsyncFnOnce(&mut TcpStream),
    A: AsyncFnOnce(&mut TcpStream),
{
    let stop = CancellationToken::new();
    let address = server_until(stop.clone()).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    before(&mut stream).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    after(&mut stream).await;
}

/// Reads until the server closes `stream`, failing on a reset.
async fn everything(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "{read:?} after {answer:?}");
    answer
}

/// Asserts that `answer` is one `ok` response that closes its connection.
fn answered_and_closed(answer: &str) {
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nok"),
        "{answer:?}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer:?}");
}

/// On real time: paused, the runtime moved the clock on to the header-read timeout without
/// seeing the head's end arrive on the socket.
#[tokio::test]
async fn the_next_head_of_a_keep_alive_connection_split_at_the_cancel_is_answered() {
    at_the_cancel(
        async |stream: &mut TcpStream| {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            assert_eq!(response(stream).await, "HTTP/1.1 200 OK");
            stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        },
        async |stream: &mut TcpStream| {
            // After the 250 ms a keep-alive connection is given at the cancel.
            tokio::time::sleep(Duration::from_millis(400)).await;
            stream.write_all(b"st: x\r\n\r\n").await.unwrap();
            answered_and_closed(&everything(stream).await);
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_first_head_sent_byte_by_byte_across_the_cancel_is_answered() {
    at_the_cancel(
        async |stream: &mut TcpStream| {
            stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        },
        async |stream: &mut TcpStream| {
            for byte in b"st: x\r\n\r\n" {
                tokio::time::sleep(Duration::from_millis(150)).await;
                stream.write_all(&[*byte]).await.unwrap();
            }
            answered_and_closed(&everything(stream).await);
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_request_body_still_arriving_at_the_cancel_is_answered() {
    at_the_cancel(
        async |stream: &mut TcpStream| {
            stream
                .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
                .await
                .unwrap();
        },
        async |stream: &mut TcpStream| {
            // Longer than the header-read timeout: a request in flight is not reading a head.
            tokio::time::sleep(TIMEOUT + Duration::from_secs(1)).await;
            stream.write_all(b"67890").await.unwrap();
            answered_and_closed(&everything(stream).await);
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_request_expecting_100_continue_at_the_cancel_gets_it_and_is_answered() {
    const HEAD: &[u8] =
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    async fn continued(stream: &mut TcpStream) {
        let mut continued = [0; 25];
        stream.read_exact(&mut continued).await.unwrap();
        assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
        tokio::time::sleep(Duration::from_secs(1)).await;
        stream.write_all(b"12345").await.unwrap();
        answered_and_closed(&everything(stream).await);
    }
    // The head read before the cancel, and after it.
    at_the_cancel(
        async |stream: &mut TcpStream| stream.write_all(HEAD).await.unwrap(),
        continued,
    )
    .await;
    at_the_cancel(
        async |_: &mut TcpStream| {},
        async |stream: &mut TcpStream| {
            stream.write_all(HEAD).await.unwrap();
            continued(stream).await;
        },
    )
    .await;
}

/// Two requests in one write, the first in flight at the cancel: its response says
/// `Connection: close` and the connection closes after it, without a reset; the second is not
/// answered (hyper drops what it read past a response that closes the connection). RFC 9112,
/// 9.3.2: a client that pipelines retries the requests a closed connection left unanswered.
#[tokio::test(start_paused = true)]
async fn pipelined_requests_at_the_cancel_the_first_is_answered_and_the_connection_closed() {
    at_the_cancel(
        async |stream: &mut TcpStream| {
            let two = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
            stream.write_all(two).await.unwrap();
        },
        async |stream: &mut TcpStream| answered_and_closed(&everything(stream).await),
    )
    .await;
}

/// A HEADERS frame opening stream `id` with `GET /`, or `GET /slow`.
fn h2_get(id: u32, slow: bool) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x01, 0x01, b'x']; // `:authority x`, not indexed
    if slow {
        block.extend_from_slice(b"\x04\x05/slow");
    } else {
        block.push(0x84);
    }
    let mut frame = vec![0, 0, block.len() as u8, 1, 5];
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&block);
    frame
}

/// Reads frames until the server closes (acknowledging its PINGs); returns the streams answered
/// `200`, and what else came (resets, GOAWAYs).
async fn h2_answers(stream: &mut TcpStream) -> (Vec<u32>, String) {
    let mut answered = Vec::new();
    let mut log = String::new();
    loop {
        let mut head = [0; 9];
        if let Err(err) = stream.read_exact(&mut head).await {
            log.push_str(&format!("end: {err}"));
            return (answered, log);
        }
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.unwrap();
        match kind {
            1 if payload[0] == 0x88 => answered.push(id),
            3 => log.push_str(&format!("RST_STREAM {id} {payload:?}; ")),
            7 => log.push_str(&format!("GOAWAY {payload:?}; ")),
            6 if flags & 1 == 0 => {
                let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                ack.extend_from_slice(&payload);
                stream.write_all(&ack).await.unwrap();
            }
            _ => {}
        }
    }
}

/// 50 streams opened before the cancel (half of them answered 5 s later) and 50 after it, before
/// the client has read the GOAWAY: every one is answered, and the connection closes.
#[tokio::test(start_paused = true)]
async fn http2_streams_opened_around_the_cancel_are_all_answered() {
    fn streams(ids: std::ops::Range<u32>) -> Vec<u8> {
        ids.step_by(2)
            .flat_map(|id| h2_get(id, id % 4 == 1))
            .collect()
    }
    at_the_cancel(
        async |stream: &mut TcpStream| {
            let mut out = H2_REQUEST[..33].to_vec(); // the preface and SETTINGS
            out.extend(streams(1..100));
            stream.write_all(&out).await.unwrap();
        },
        async |stream: &mut TcpStream| {
            stream.write_all(&streams(101..200)).await.unwrap();
            let (answered, log) = h2_answers(stream).await;
            assert_eq!(answered.len(), 100, "{answered:?} {log}");
        },
    )
    .await;
}
