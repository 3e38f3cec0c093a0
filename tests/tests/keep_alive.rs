//! Keep-alive clients sending requests back to back at the moment of SIGTERM, with no drain
//! delay: the serve loop closes each connection only after its next response said
//! `Connection: close`, so no request is sent onto a connection that then closes unanswered.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lifecycle_tests::{ScratchDir, Service};

const HTTP_SERVER: &str = env!("CARGO_BIN_EXE_example-http_server");

/// What became of one client's requests.
#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    /// Sent onto an open connection, then the connection closed with no response.
    lost: usize,
    /// Ended by a response saying `Connection: close`, as it should.
    told_to_close: bool,
}

/// Reads one response: its `Connection: close` header, or `None` if the connection closed first.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<bool> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        if header == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(close)
}

/// One keep-alive connection, a request as soon as the last answer came, until told to close.
fn client(address: SocketAddr, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let Ok(stream) = TcpStream::connect(address) else {
        return tally;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        if reader
            .get_mut()
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            tally.lost += 1;
            break;
        }
        match read_response(&mut reader) {
            Some(close) => {
                tally.answered += 1;
                if close {
                    tally.told_to_close = true;
                    break;
                }
            }
            None => {
                tally.lost += 1;
                break;
            }
        }
    }
    tally
}

#[test]
fn back_to_back_keep_alive_requests_at_sigterm_are_answered_and_told_to_close() {
    const CLIENTS: usize = 8;
    let state = ScratchDir::new("keep-alive");
    for run in 0..3 {
        let env = [
            ("PORT", "0"),
            ("STATE_DIR", state.as_str()),
            ("LIFECYCLE_DRAIN_DELAY", "0s"),
        ];
        let mut server = Service::start(HTTP_SERVER, &[], &env);
        let address = server.wait_for_address();
        server.wait_for_line(|line| line.starts_with("ready:"));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || client(address, &stop))
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        server.signal("TERM");
        let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        let exited = server.wait_exit();
        assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
        let lost: usize = tallies.iter().map(|tally| tally.lost).sum();
        assert_eq!(lost, 0, "run {run}: {tallies:?}");
        assert!(
            tallies
                .iter()
                .all(|tally| tally.answered > 0 && tally.told_to_close),
            "run {run}: {tallies:?}"
        );
    }
}
