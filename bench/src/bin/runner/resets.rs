//! Connection resets at SIGTERM: clients that open a new connection for every request, and what
//! a shutdown does to those it catches. Each attempt connects, sends `GET /` with
//! `Connection: close`, reads to the end, and ends in one [`Outcome`]. A reset (or a close
//! without an answer) after `connect` succeeded is a loss: the client sent its request and
//! cannot tell whether it was processed. A refused connection, or one the server never accepted
//! (its SYN dropped), sent nothing, and the client knows it.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::proc::Proc;
use crate::process_scenarios::Contender;
use crate::stats::Samples;

/// How long a client waits for the kernel to accept its connection. Past it the attempt is
/// [`Outcome::NotConnected`]: a SYN the server dropped (its kernel would retry a second later).
/// Short, so that a run ends soon after the server stopped taking connections.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// How long a connected client waits for the whole answer.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the clients may go on after the server exited before they are stopped.
pub(crate) const FINISH_LIMIT: Duration = Duration::from_secs(15);

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Connected and got an HTTP answer (any status).
    Answered,
    /// `connect` refused: nothing sent.
    Refused,
    /// `connect` not accepted within [`CONNECT_TIMEOUT`]: nothing sent.
    NotConnected,
    /// Connected, then `ECONNRESET`, `EPIPE` or `ECONNABORTED` before an answer: a loss. Also
    /// a `connect` that failed with `ECONNRESET`: the server's kernel had accepted the
    /// connection (a client a moment quicker would have sent its request).
    Reset,
    /// Connected, then closed by the server with no answer, or no answer within
    /// [`READ_TIMEOUT`]: a loss.
    Unanswered,
}

/// The outcomes of one run's attempts, and the first few losses as the clients saw them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) answered: u64,
    pub(crate) refused: u64,
    pub(crate) not_connected: u64,
    pub(crate) reset: u64,
    pub(crate) unanswered: u64,
    /// The first few different failures, each with how many attempts ended so.
    examples: Vec<(String, u64)>,
}

/// How many different failures a contender's row quotes.
const EXAMPLES: usize = 3;

impl Tally {
    pub(crate) fn count(&mut self, outcome: Outcome, detail: Option<String>) {
        match outcome {
            Outcome::Answered => self.answered += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::NotConnected => self.not_connected += 1,
            Outcome::Reset => self.reset += 1,
            Outcome::Unanswered => self.unanswered += 1,
        }
        if let Some(detail) = detail {
            self.quote(detail, 1);
        }
    }

    /// Counts `times` failures that read `detail`, keeping [`EXAMPLES`] different ones at most.
    fn quote(&mut self, detail: String, times: u64) {
        match self.examples.iter().position(|(seen, _)| *seen == detail) {
            Some(at) => self.examples[at].1 += times,
            None if self.examples.len() < EXAMPLES => self.examples.push((detail, times)),
            None => {}
        }
    }

    pub(crate) fn add(&mut self, other: &Tally) {
        self.answered += other.answered;
        self.refused += other.refused;
        self.not_connected += other.not_connected;
        self.reset += other.reset;
        self.unanswered += other.unanswered;
        for (detail, times) in &other.examples {
            self.quote(detail.clone(), *times);
        }
    }

    /// Attempts that connected and got no answer.
    pub(crate) fn lost(&self) -> u64 {
        self.reset + self.unanswered
    }
}

/// One attempt: connect, send [`REQUEST`], read to the end.
fn attempt(address: SocketAddr) -> (Outcome, Option<String>) {
    let mut stream = match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
        Ok(stream) => stream,
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            return (Outcome::Refused, None)
        }
        Err(err) if err.kind() == io::ErrorKind::TimedOut => return (Outcome::NotConnected, None),
        // The server's kernel completed the handshake and the listener closed before `connect`
        // returned: the reset a closing listener gives its queue, seen a moment earlier.
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
            return (Outcome::Reset, Some(format!("connect: {err}")))
        }
        // Nothing was sent; the detail says what it was.
        Err(err) => return (Outcome::Refused, Some(format!("connect: {err}"))),
    };
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    if let Err(err) = stream.write_all(REQUEST) {
        return (lost(&err), Some(format!("write: {err}")));
    }
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // An answer that came before the reset was still an answer.
            Err(_) if answer.starts_with(b"HTTP/1.") => break,
            Err(err) => return (lost(&err), Some(format!("read: {err}"))),
        }
    }
    if answer.starts_with(b"HTTP/1.") {
        (Outcome::Answered, None)
    } else {
        let text = String::from_utf8_lossy(&answer).into_owned();
        (Outcome::Unanswered, Some(format!("closed after {text:?}")))
    }
}

/// How a connected attempt that failed counts: a read that timed out had no answer, anything
/// else (`ECONNRESET`, `EPIPE`, `ECONNABORTED`) is a reset.
pub(crate) fn lost(err: &io::Error) -> Outcome {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Unanswered,
        _ => Outcome::Reset,
    }
}

/// `clients` threads making attempts one after the other. Each stops at its first refused or
/// not-connected attempt once some client has been answered and the load is closing (the server
/// stopped taking connections), or when told to.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    answered_once: Arc<AtomicBool>,
    /// Whether a refused or not-connected attempt ends a client (once some client was
    /// answered). Set from the start for a shutdown (scenario 10); for the upgrade (scenario 11)
    /// only at the final SIGTERM, so that the clients go on through the switches.
    closing: Arc<AtomicBool>,
    clients: Vec<thread::JoinHandle<[Tally; 2]>>,
}

/// How long a client of a continuous load ([`Load::continuous`]) waits after an attempt that was
/// refused or not accepted, before the next: a client retrying a port that is closed for a while
/// (a restart) waits a little, as a real one would, instead of spinning on `connect`.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(10);

impl Load {
    fn start(address: SocketAddr, clients: usize) -> Load {
        Load::with(address, clients, true)
    }

    /// A load that goes on through refused and not-connected attempts (each followed by
    /// [`RETRY_PAUSE`]) until [`closing`](Load::closing) is called.
    pub(crate) fn continuous(address: SocketAddr, clients: usize) -> Load {
        Load::with(address, clients, false)
    }

    fn with(address: SocketAddr, clients: usize, closing: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered_once = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(closing));
        let clients = (0..clients)
            .map(|_| {
                let (stop, answered_once, closing) =
                    (stop.clone(), answered_once.clone(), closing.clone());
                thread::spawn(move || {
                    // Attempts that ended before the load was closing, and from then on.
                    let mut tallies = [Tally::default(), Tally::default()];
                    while !stop.load(Ordering::Relaxed) {
                        let (outcome, detail) = attempt(address);
                        let phase = usize::from(closing.load(Ordering::Relaxed));
                        tallies[phase].count(outcome, detail);
                        match outcome {
                            Outcome::Answered => answered_once.store(true, Ordering::Relaxed),
                            Outcome::Refused | Outcome::NotConnected
                                if answered_once.load(Ordering::Relaxed)
                                    && closing.load(Ordering::Relaxed) =>
                            {
                                break
                            }
                            Outcome::Refused | Outcome::NotConnected
                                if !closing.load(Ordering::Relaxed) =>
                            {
                                thread::sleep(RETRY_PAUSE)
                            }
                            _ => {}
                        }
                    }
                    tallies
                })
            })
            .collect();
        Load {
            stop,
            answered_once,
            closing,
            clients,
        }
    }

    /// From now on a refused or not-connected attempt ends a client: the server is stopping.
    pub(crate) fn closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Waits (at most 10 s) for a first answer; whether one came.
    pub(crate) fn wait_for_an_answer(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answered_once.load(Ordering::Relaxed) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Waits for every client to see the port closed (at most `limit`, then stops them after
    /// their attempt under way) and adds up their tallies.
    pub(crate) fn finish(self, limit: Duration) -> Tally {
        let [before, after] = self.finish_split(limit);
        let mut total = before;
        total.add(&after);
        total
    }

    /// As [`finish`](Load::finish), the attempts that ended before [`closing`](Load::closing)
    /// apart from those that ended after: a loss is counted after when the client saw it after.
    /// (Split by when an attempt began, a client that checked before and was then not scheduled
    /// for a while would send its request after the SIGTERM and count its loss before.)
    pub(crate) fn finish_split(self, limit: Duration) -> [Tally; 2] {
        let deadline = Instant::now() + limit;
        while self.clients.iter().any(|client| !client.is_finished()) {
            if Instant::now() >= deadline {
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let mut total = [Tally::default(), Tally::default()];
        for client in self.clients {
            if let Ok([before, after]) = client.join() {
                total[0].add(&before);
                total[1].add(&after);
            }
        }
        total
    }
}

/// One run: start the contender, put it under load, SIGTERM `before` after the first answer,
/// count every attempt until the clients see the port closed. The tally and the exit code (or
/// `signal N`).
fn once(contender: &Contender, clients: usize, before: Duration) -> (Tally, String) {
    let mut proc = Proc::start(&contender.bin, &contender.env, "ready ");
    let address: SocketAddr = proc
        .addr
        .parse()
        .unwrap_or_else(|_| panic!("{}: `ready {}` is no address", contender.name, proc.addr));
    let load = Load::start(address, clients);
    assert!(
        load.wait_for_an_answer(),
        "{}: no answer within 10 s",
        contender.name
    );
    thread::sleep(before);
    crate::proc::send(proc.pid(), libc::SIGTERM);
    let status = proc.wait();
    let tally = load.finish(FINISH_LIMIT);
    let exit = match status {
        None => "none in 60 s".to_owned(),
        Some(status) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => format!("{status:?}"),
        },
    };
    (tally, exit)
}

/// What one contender's runs came to.
pub struct Totals {
    pub name: &'static str,
    pub(crate) runs: Vec<Tally>,
    pub(crate) exits: Vec<String>,
}

impl Totals {
    pub(crate) fn total(&self) -> Tally {
        let mut total = Tally::default();
        for run in &self.runs {
            total.add(run);
        }
        total
    }

    /// Resets and closes without an answer, in all runs.
    pub fn lost(&self) -> u64 {
        self.total().lost()
    }

    /// `total (median per run)` of one count.
    fn cell(&self, count: impl Fn(&Tally) -> u64) -> String {
        let total: u64 = self.runs.iter().map(&count).sum();
        let per_run = Samples(self.runs.iter().map(|run| count(run) as f64).collect());
        let median = per_run.median();
        if median.fract() == 0.0 {
            format!("{total} ({median:.0})")
        } else {
            format!("{total} ({median:.1})")
        }
    }

    /// The exit codes, each with how many runs ended with it: `0 ×10`.
    fn exits(&self) -> String {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for exit in &self.exits {
            match seen.iter_mut().find(|(code, _)| code == exit) {
                Some((_, n)) => *n += 1,
                None => seen.push((exit, 1)),
            }
        }
        let cells: Vec<String> = seen
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect();
        cells.join(", ")
    }
}

/// Each contender `runs` times, interleaved (A B C A B C ...), a fresh process per run, with
/// `clients` clients and SIGTERM `before` after the first answer.
pub fn at_sigterm(
    contenders: &[Contender],
    runs: usize,
    clients: usize,
    before: Duration,
) -> Vec<Totals> {
    let mut totals: Vec<Totals> = contenders
        .iter()
        .map(|contender| Totals {
            name: contender.name,
            runs: Vec::new(),
            exits: Vec::new(),
        })
        .collect();
    for run in 1..=runs {
        for (contender, totals) in contenders.iter().zip(&mut totals) {
            let (tally, exit) = once(contender, clients, before);
            eprintln!(
                "  run {run}, {}: answered {} refused {} not connected {} reset {} \
                 closed unanswered {}; exit {exit}",
                contender.name,
                tally.answered,
                tally.refused,
                tally.not_connected,
                tally.reset,
                tally.unanswered
            );
            totals.runs.push(tally);
            totals.exits.push(exit);
        }
    }
    totals
}

/// The Markdown table: every count as its total over the runs with the median of a run in
/// parentheses, the runs that lost an attempt, the exit codes; then the first failures (other
/// than a refused or timed-out connect) each contender's clients saw.
pub fn table(out: &mut String, totals: &[Totals]) {
    let rows: Vec<&Totals> = totals.iter().collect();
    table_of(out, &rows);
}

/// [`table`] of rows gathered from elsewhere (scenario 11's).
pub fn table_of(out: &mut String, totals: &[&Totals]) {
    let _ = writeln!(
        out,
        "| contender | runs | answered | refused | not connected (SYN dropped) | reset | closed unanswered | runs with a loss | exit codes |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for row in totals {
        let lossy = row.runs.iter().filter(|run| run.lost() > 0).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {lossy} | {} |",
            row.name,
            row.runs.len(),
            row.cell(|t| t.answered),
            row.cell(|t| t.refused),
            row.cell(|t| t.not_connected),
            row.cell(|t| t.reset),
            row.cell(|t| t.unanswered),
            row.exits()
        );
    }
    out.push('\n');
    let quoted: Vec<(&str, Vec<(String, u64)>)> = totals
        .iter()
        .map(|row| (row.name, row.total().examples))
        .filter(|(_, examples)| !examples.is_empty())
        .collect();
    if !quoted.is_empty() {
        let _ = writeln!(out, "The first failures (other than a refused or timed-out connect) each contender's clients saw:\n");
        for (name, examples) in quoted {
            let quoted: Vec<String> = examples
                .iter()
                .map(|(detail, times)| format!("`{detail}` ×{times}"))
                .collect();
            let _ = writeln!(out, "- {name}: {}", quoted.join("; "));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_give_the_total_and_the_median_of_a_run() {
        let run = |reset| Tally {
            reset,
            ..Tally::default()
        };
        let totals = Totals {
            name: "x",
            runs: vec![run(0), run(4), run(30)],
            exits: vec!["0".into(), "0".into(), "1".into()],
        };
        assert_eq!(totals.cell(|t| t.reset), "34 (4)");
        assert_eq!(totals.cell(|t| t.answered), "0 (0)");
        assert_eq!(totals.exits(), "0 ×2, 1 ×1");
        assert_eq!(totals.lost(), 34);
    }
}
