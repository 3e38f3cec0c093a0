//! Clients that open a new connection for every request, for counting what a shutdown does to
//! them: each client connects, sends one `GET` with `Connection: close`, reads to the end, and
//! starts again, until the server stops taking connections. Every attempt ends in one of the
//! [`Outcome`]s; a [`Tally`] counts them. Used by `tests/tests/listener_close.rs` and by the
//! `churn` binary (`tests/src/bin/churn.rs`), which gives the figures for many shutdowns.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Service;

/// How long a client waits for its connection to be accepted by the kernel: past it, the
/// attempt is [`Outcome::NotConnected`] (a SYN the server dropped, retried by the kernel a
/// second later). Short, so a run ends soon after the server stopped taking connections.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// How long a connected client waits for the whole answer before calling it
/// [`Outcome::Hung`].
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Connected and got an HTTP answer (any status).
    Answered,
    /// The connection was refused: nothing was sent, the client knows it.
    Refused,
    /// The connection was not accepted within the connect timeout (a dropped SYN): nothing
    /// was sent, the client knows it.
    NotConnected,
    /// Connected, then reset (`ECONNRESET`, `EPIPE`, `ECONNABORTED`) before an answer came:
    /// the client cannot tell whether its request was processed. A loss.
    Reset,
    /// Connected, then closed by the server (end of stream) with no answer. A loss.
    Unanswered,
    /// Connected, and no answer within the read timeout.
    Hung,
}

/// What the attempts of one or more runs came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// [`Outcome::Answered`] attempts.
    pub answered: u64,
    /// [`Outcome::Refused`] attempts.
    pub refused: u64,
    /// [`Outcome::NotConnected`] attempts.
    pub not_connected: u64,
    /// [`Outcome::Reset`] attempts.
    pub reset: u64,
    /// [`Outcome::Unanswered`] attempts.
    pub unanswered: u64,
    /// [`Outcome::Hung`] attempts.
    pub hung: u64,
    /// The first few errors of lost attempts, as the client saw them.
    pub examples: Vec<String>,
}

impl Tally {
    fn count(&mut self, outcome: Outcome, detail: Option<String>) {
        match outcome {
            Outcome::Answered => self.answered += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::NotConnected => self.not_connected += 1,
            Outcome::Reset => self.reset += 1,
            Outcome::Unanswered => self.unanswered += 1,
            Outcome::Hung => self.hung += 1,
        }
        if let Some(detail) = detail {
            if self.examples.len() < 5 {
                self.examples.push(detail);
            }
        }
    }

    /// Adds another tally's counts to this one.
    pub fn add(&mut self, other: &Tally) {
        self.answered += other.answered;
        self.refused += other.refused;
        self.not_connected += other.not_connected;
        self.reset += other.reset;
        self.unanswered += other.unanswered;
        self.hung += other.hung;
        for example in &other.examples {
            if self.examples.len() < 5 {
                self.examples.push(example.clone());
            }
        }
    }

    /// Attempts that connected and got no answer: resets, closes without an answer, hangs.
    pub fn lost(&self) -> u64 {
        self.reset + self.unanswered + self.hung
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answered {} refused {} not_connected {} reset {} unanswered {} hung {}",
            self.answered, self.refused, self.not_connected, self.reset, self.unanswered, self.hung
        )
    }
}

/// One attempt: connect (waiting at most `connect_timeout`), `GET path` with
/// `Connection: close`, read to the end.
pub fn attempt(
    address: SocketAddr,
    path: &str,
    connect_timeout: Duration,
) -> (Outcome, Option<String>) {
    let mut stream = match TcpStream::connect_timeout(&address, connect_timeout) {
        Ok(stream) => stream,
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            return (Outcome::Refused, None)
        }
        Err(err) if err.kind() == io::ErrorKind::TimedOut => return (Outcome::NotConnected, None),
        Err(err) => return (Outcome::Refused, Some(format!("connect: {err}"))),
    };
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if let Err(err) = stream.write_all(request.as_bytes()) {
        return (lost(&err), Some(format!("write: {err}")));
    }
    let mut response = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            // An answer that came in full before the reset was still answered.
            Err(_) if response.starts_with(b"HTTP/1.") => break,
            Err(err) => return (lost(&err), Some(format!("read: {err}"))),
        }
    }
    if response.starts_with(b"HTTP/1.") {
        (Outcome::Answered, None)
    } else {
        let what = String::from_utf8_lossy(&response).into_owned();
        (Outcome::Unanswered, Some(format!("closed after {what:?}")))
    }
}

/// How a connected attempt that failed is counted.
fn lost(err: &io::Error) -> Outcome {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Hung,
        _ => Outcome::Reset,
    }
}

/// `clients` threads, each making [`attempt`]s one after the other until `stop` is set or (with
/// [`Load::start`]) the server stopped taking connections (an attempt refused or not connected,
/// after at least one answer was seen by some client).
pub struct Load {
    stop: Arc<AtomicBool>,
    answered_once: Arc<AtomicBool>,
    clients: Vec<thread::JoinHandle<Tally>>,
}

impl Load {
    /// Starts the clients against `address`; each stops once it is refused or not connected
    /// within 300 ms (after an answer): the server is gone.
    pub fn start(address: SocketAddr, path: &str, clients: usize) -> Self {
        Self::start_with(address, path, clients, CONNECT_TIMEOUT, true)
    }

    /// Starts the clients against a port that stays open (a socket a service manager holds
    /// across a restart): each waits up to `connect_timeout` for a connection and goes on
    /// until [`stop`](Self::stop).
    pub fn start_patient(
        address: SocketAddr,
        path: &str,
        clients: usize,
        connect_timeout: Duration,
    ) -> Self {
        Self::start_with(address, path, clients, connect_timeout, false)
    }

    fn start_with(
        address: SocketAddr,
        path: &str,
        clients: usize,
        connect_timeout: Duration,
        until_refused: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered_once = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                let (stop, answered_once) = (Arc::clone(&stop), Arc::clone(&answered_once));
                let path = path.to_owned();
                thread::spawn(move || {
                    let mut tally = Tally::default();
                    while !stop.load(Ordering::Relaxed) {
                        let (outcome, detail) = attempt(address, &path, connect_timeout);
                        tally.count(outcome, detail);
                        match outcome {
                            Outcome::Answered => answered_once.store(true, Ordering::Relaxed),
                            Outcome::Refused | Outcome::NotConnected
                                if until_refused && answered_once.load(Ordering::Relaxed) =>
                            {
                                break
                            }
                            _ => {}
                        }
                    }
                    tally
                })
            })
            .collect();
        Self {
            stop,
            answered_once,
            clients,
        }
    }

    /// Waits (at most 10 s) until some client got an answer.
    pub fn wait_for_an_answer(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answered_once.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline, "no answer within 10 s");
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the clients (each after its attempt under way) and returns their tally.
    pub fn stop(self) -> Tally {
        self.finish(Duration::ZERO)
    }

    /// Waits for every client to see the server stop taking connections (or `limit`, then
    /// stops them) and returns their tally.
    pub fn finish(self, limit: Duration) -> Tally {
        let deadline = Instant::now() + limit;
        while self.clients.iter().any(|client| !client.is_finished()) {
            if Instant::now() >= deadline {
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let mut total = Tally::default();
        for client in self.clients {
            total.add(&client.join().expect("a client thread"));
        }
        total
    }
}

/// One shutdown under load: starts `program` (which prints `listening on ADDRESS`, then, when
/// `ready` is given, a line starting with it), starts `clients` clients on `path`, lets them get
/// answers for `before` after the first one, sends SIGTERM, and counts every attempt until the
/// clients see the port closed. Returns the tally and the server's exit code.
pub fn shutdown_under_load(
    program: &str,
    env: &[(&str, &str)],
    ready: Option<&str>,
    path: &str,
    clients: usize,
    before: Duration,
) -> (Tally, i32) {
    let mut server = Service::start(program, &[], env);
    let address = server.wait_for_address();
    if let Some(ready) = ready {
        server.wait_for_line(|line| line.starts_with(ready));
    }
    let load = Load::start(address, path, clients);
    load.wait_for_an_answer();
    thread::sleep(before);
    server.signal("TERM");
    let exited = server.wait_exit();
    let tally = load.finish(Duration::from_secs(15));
    let code = exited.status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!("exit {code}; stderr:\n{}", exited.stderr);
    }
    (tally, code)
}
