//! In-place upgrade under load (scenario 11): the serve loop with its listener from
//! `lifecycle::listener` (`svc_upgrade`), under clients that open a new connection per request
//! (scenario 10's, going on through the switches) and keep-alive clients, upgraded three times in
//! a row with SIGUSR2 (the PID file names the process to signal), then stopped with SIGTERM.
//! For comparison, the same load across plain restarts: SIGTERM, and once the process exited a
//! new one started on the same port.
//!
//! The runner is the "child subreaper" of the processes it starts while this scenario runs: an
//! old process that exits hands its successor to the runner, not to init, so that each one's exit
//! is timed and its status read with `waitpid`.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::proc::Proc;
use crate::process_scenarios::Contender;
use crate::resets::{self, Load, Outcome, Tally, Totals};
use crate::stats::{fmt, Samples};

/// How a run switches from one process to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// SIGUSR2 to the process the PID file names: the in-place upgrade.
    Upgrade,
    /// SIGTERM, and once the process exited, a new one started on the same port.
    Restart,
}

/// Load between two switches, and after the last before the SIGTERM.
pub const STEADY: Duration = Duration::from_millis(300);

/// How long a switch may take (the new process Ready, the old one exited).
const SWITCH_LIMIT: Duration = Duration::from_secs(30);

const KEEP_ALIVE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/// Keep-alive clients: each sends `GET /` on its connection as soon as the last answer came,
/// and opens a new connection when the server closes one after an answer (`Connection: close`,
/// what the hand-over tells each keep-alive connection) or before a request. A request sent on a
/// connection that then closes or resets without an answer is a loss, as in scenario 10.
struct KeepAlive {
    stop: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    clients: Vec<thread::JoinHandle<[Tally; 2]>>,
}

impl KeepAlive {
    fn start(address: SocketAddr, clients: usize) -> KeepAlive {
        let stop = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                let (stop, closing) = (stop.clone(), closing.clone());
                thread::spawn(move || keep_alive_client(address, &stop, &closing))
            })
            .collect();
        KeepAlive {
            stop,
            closing,
            clients,
        }
    }

    fn closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// As [`Load::finish_split`].
    fn finish(self, limit: Duration) -> [Tally; 2] {
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

/// One keep-alive client's attempts, those that ended before the load was closing apart from
/// the rest (as [`Load::finish_split`]).
fn keep_alive_client(address: SocketAddr, stop: &AtomicBool, closing: &AtomicBool) -> [Tally; 2] {
    let mut tallies = [Tally::default(), Tally::default()];
    let mut connection: Option<TcpStream> = None;
    let mut answered_once = false;
    while !stop.load(Ordering::Relaxed) {
        let mut stream = match connection.take() {
            Some(stream) => stream,
            None => match TcpStream::connect_timeout(&address, resets::CONNECT_TIMEOUT) {
                Ok(stream) => {
                    let _ = stream.set_read_timeout(Some(resets::READ_TIMEOUT));
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(err) => {
                    let (outcome, detail) = match err.kind() {
                        io::ErrorKind::ConnectionRefused => (Outcome::Refused, None),
                        io::ErrorKind::TimedOut => (Outcome::NotConnected, None),
                        io::ErrorKind::ConnectionReset => {
                            (Outcome::Reset, Some(format!("keep-alive connect: {err}")))
                        }
                        _ => (Outcome::Refused, Some(format!("keep-alive connect: {err}"))),
                    };
                    tallies[usize::from(closing.load(Ordering::Relaxed))].count(outcome, detail);
                    if answered_once && closing.load(Ordering::Relaxed) {
                        break;
                    }
                    thread::sleep(resets::RETRY_PAUSE);
                    continue;
                }
            },
        };
        let exchanged = exchange(&mut stream);
        let tally = &mut tallies[usize::from(closing.load(Ordering::Relaxed))];
        match exchanged {
            Ok(keep) => {
                tally.count(Outcome::Answered, None);
                answered_once = true;
                if keep {
                    connection = Some(stream);
                }
            }
            Err((outcome, detail)) => tally.count(outcome, Some(detail)),
        }
    }
    tallies
}

/// One request on `stream`: whether the connection stays open after the answer, or how the
/// attempt was lost.
fn exchange(stream: &mut TcpStream) -> Result<bool, (Outcome, String)> {
    if let Err(err) = stream.write_all(KEEP_ALIVE_REQUEST) {
        return Err((resets::lost(&err), format!("keep-alive write: {err}")));
    }
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0; 1024];
    let mut wanted: Option<(usize, bool)> = None;
    loop {
        if wanted.is_none() {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let close = head
                    .lines()
                    .any(|line| line.starts_with("connection:") && line.contains("close"));
                wanted = Some((end + 4 + length, !close));
            }
        }
        if let Some((total, keep)) = wanted {
            if answer.len() >= total {
                return Ok(keep);
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                let text = String::from_utf8_lossy(&answer).into_owned();
                return Err((
                    Outcome::Unanswered,
                    format!("keep-alive: closed after {text:?}"),
                ));
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(err) => return Err((resets::lost(&err), format!("keep-alive read: {err}"))),
        }
    }
}

/// Makes the runner the reaper of its descendants' orphans (`on`), or stops it.
fn subreaper(on: bool) {
    // SAFETY: sets a flag of this process; no memory is involved.
    let set = unsafe {
        libc::prctl(
            libc::PR_SET_CHILD_SUBREAPER,
            libc::c_ulong::from(on),
            0,
            0,
            0,
        )
    };
    assert_eq!(set, 0, "PR_SET_CHILD_SUBREAPER");
}

/// The pid in the PID file, if it holds one.
fn pid_in(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reaps `pid` if it exited: its status as `exit N` / `signal N`.
fn reaped(pid: i32) -> Option<String> {
    let mut status = 0;
    // SAFETY: waits for one process without blocking, writing its status into `status`.
    let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if got != pid {
        return None;
    }
    Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status).to_string()
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    })
}

/// Polls every millisecond until `done` gives a value, at most `limit`.
fn poll<T>(limit: Duration, mut done: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = done() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// What one switch took, from the signal: until the PID file named the new process (it is
/// Ready), and until the old process exited.
#[derive(Clone, Copy, Debug)]
struct Timing {
    ready: Duration,
    exited: Duration,
}

/// One run's outcome.
struct Run {
    /// New-connection clients: attempts begun before the final SIGTERM, and after.
    fresh: [Tally; 2],
    /// Keep-alive clients, the same.
    kept: [Tally; 2],
    timings: Vec<Timing>,
    exits: Vec<String>,
}

fn start(contender: &Contender, pidfile: &Path, port: u16) -> (Proc, i32) {
    let mut env = contender.env.clone();
    env.push(("LIFECYCLE_PIDFILE", pidfile.display().to_string()));
    env.push(("PORT", port.to_string()));
    let proc = Proc::start(&contender.bin, &env, "ready ");
    let pid = proc.pid();
    let ready = poll(SWITCH_LIMIT, || {
        (pid_in(pidfile) == Some(pid)).then_some(())
    });
    assert!(ready.is_some(), "{pid} never wrote its PID file");
    (proc, pid)
}

/// One run: a first process, `switches` switches under load, SIGTERM; every process reaped.
fn once(
    contender: &Contender,
    how: Switch,
    switches: usize,
    fresh_clients: usize,
    kept_clients: usize,
    scratch: &Path,
) -> Run {
    let pidfile = scratch.join("upgrade.pid");
    let _ = std::fs::remove_file(&pidfile);
    let (first, mut current) = start(contender, &pidfile, 0);
    let address: SocketAddr = first
        .addr
        .parse()
        .unwrap_or_else(|_| panic!("{}: `ready {}` is no address", contender.name, first.addr));
    // Each process started here (a restart's), kept until the run ends: dropped, a `Proc` kills
    // its process if it still runs (never, once reaped).
    let mut started = vec![first];
    let fresh = Load::continuous(address, fresh_clients);
    assert!(
        fresh.wait_for_an_answer(),
        "{}: no answer within 10 s",
        contender.name
    );
    let kept = KeepAlive::start(address, kept_clients);
    let mut timings = Vec::new();
    let mut exits = Vec::new();
    for _ in 0..switches {
        thread::sleep(STEADY);
        let old = current;
        let asked = Instant::now();
        match how {
            Switch::Upgrade => {
                crate::proc::send(old, libc::SIGUSR2);
                let (mut ready, mut exited) = (None, None);
                poll(SWITCH_LIMIT, || {
                    if ready.is_none() {
                        if let Some(pid) = pid_in(&pidfile).filter(|pid| *pid != old) {
                            ready = Some((pid, asked.elapsed()));
                        }
                    }
                    if exited.is_none() {
                        exited = reaped(old).map(|status| (status, asked.elapsed()));
                    }
                    (ready.is_some() && exited.is_some()).then_some(())
                })
                .unwrap_or_else(|| panic!("upgrade of {old}: no switch within {SWITCH_LIMIT:?}"));
                let ((new, ready), (status, exited)) =
                    (ready.expect("polled"), exited.expect("polled"));
                current = new;
                exits.push(status);
                timings.push(Timing { ready, exited });
            }
            Switch::Restart => {
                crate::proc::send(old, libc::SIGTERM);
                let (status, exited) = poll(SWITCH_LIMIT, || {
                    reaped(old).map(|status| (status, asked.elapsed()))
                })
                .unwrap_or_else(|| panic!("{old} did not exit within {SWITCH_LIMIT:?}"));
                let (proc, new) = start(contender, &pidfile, address.port());
                started.push(proc);
                current = new;
                exits.push(status);
                timings.push(Timing {
                    ready: asked.elapsed(),
                    exited,
                });
            }
        }
    }
    thread::sleep(STEADY);
    fresh.closing();
    kept.closing();
    crate::proc::send(current, libc::SIGTERM);
    let status = poll(Duration::from_secs(60), || reaped(current));
    exits.push(status.unwrap_or_else(|| "none in 60 s".to_owned()));
    let fresh = fresh.finish_split(resets::FINISH_LIMIT);
    let kept = kept.finish(resets::FINISH_LIMIT);
    drop(started);
    Run {
        fresh,
        kept,
        timings,
        exits,
    }
}

/// What the runs of one way of switching came to.
pub struct Outcomes {
    pub how: Switch,
    /// Through the switches: new-connection clients, keep-alive clients.
    switches: [Totals; 2],
    /// At the final SIGTERM: the same.
    stop: [Totals; 2],
    timings: Vec<Timing>,
}

impl Outcomes {
    /// Resets and closes without an answer through the switches, in all runs, both kinds of
    /// client.
    pub fn lost(&self) -> u64 {
        self.switches.iter().map(Totals::lost).sum()
    }

    /// The same at the final SIGTERM.
    pub fn lost_at_stop(&self) -> u64 {
        self.stop.iter().map(Totals::lost).sum()
    }
}

/// The names of the table's rows: through the switches, then at the final SIGTERM (new-connection
/// clients, keep-alive clients).
fn names(how: Switch) -> [&'static str; 4] {
    match how {
        Switch::Upgrade => [
            "3 in-place upgrades (SIGUSR2): new-connection clients",
            "3 in-place upgrades (SIGUSR2): keep-alive clients",
            "then SIGTERM: new-connection clients",
            "then SIGTERM: keep-alive clients",
        ],
        Switch::Restart => [
            "3 plain restarts (SIGTERM, start again): new-connection clients",
            "3 plain restarts (SIGTERM, start again): keep-alive clients",
            "then SIGTERM: new-connection clients",
            "then SIGTERM: keep-alive clients",
        ],
    }
}

/// `runs` runs of each way of switching, interleaved (upgrade, restart, upgrade, ...), each with
/// `switches` switches under `fresh_clients` new-connection and `kept_clients` keep-alive
/// clients.
pub fn under_load(
    contender: &Contender,
    ways: &[Switch],
    runs: usize,
    switches: usize,
    fresh_clients: usize,
    kept_clients: usize,
    scratch: &Path,
) -> Vec<Outcomes> {
    subreaper(true);
    let mut outcomes: Vec<Outcomes> = ways
        .iter()
        .map(|&how| {
            let [fresh, kept, fresh_stop, kept_stop] = names(how);
            let totals = |name| Totals {
                name,
                runs: Vec::new(),
                exits: Vec::new(),
            };
            Outcomes {
                how,
                switches: [totals(fresh), totals(kept)],
                stop: [totals(fresh_stop), totals(kept_stop)],
                timings: Vec::new(),
            }
        })
        .collect();
    let scratch: PathBuf = scratch.to_path_buf();
    for run in 1..=runs {
        for outcome in &mut outcomes {
            let r = once(
                contender,
                outcome.how,
                switches,
                fresh_clients,
                kept_clients,
                &scratch,
            );
            let times: Vec<String> = r
                .timings
                .iter()
                .map(|t| {
                    format!(
                        "{}/{}",
                        fmt(t.ready.as_secs_f64() * 1e3),
                        fmt(t.exited.as_secs_f64() * 1e3)
                    )
                })
                .collect();
            let counts = |t: &Tally| {
                format!(
                    "answered {} refused {} not connected {} reset {} closed unanswered {}",
                    t.answered, t.refused, t.not_connected, t.reset, t.unanswered
                )
            };
            eprintln!(
                "  run {run}, {:?}: switches: new-connection {}; keep-alive {}; final SIGTERM: \
                 new-connection {}; keep-alive {}; ready/exited ms {}; exits {}",
                outcome.how,
                counts(&r.fresh[0]),
                counts(&r.kept[0]),
                counts(&r.fresh[1]),
                counts(&r.kept[1]),
                times.join(" "),
                r.exits.join(",")
            );
            let exits = r.exits.join(" ");
            let [fresh, fresh_stop] = r.fresh;
            let [kept, kept_stop] = r.kept;
            for (totals, tally) in outcome
                .switches
                .iter_mut()
                .chain(outcome.stop.iter_mut())
                .zip([fresh, kept, fresh_stop, kept_stop])
            {
                totals.runs.push(tally);
                totals.exits.push(exits.clone());
            }
            outcome.timings.extend(r.timings);
        }
    }
    subreaper(false);
    outcomes
}

/// The counts (scenario 10's table: totals with the median of a run; exit codes of a run's
/// processes in order), then the switch times.
pub fn table(out: &mut String, outcomes: &[Outcomes]) {
    let rows: Vec<&Totals> = outcomes
        .iter()
        .flat_map(|o| o.switches.iter().chain(o.stop.iter()))
        .collect();
    resets::table_of(out, &rows);
    let _ = writeln!(
        out,
        "Time to switch, over every switch of every run (ms from the signal: median, min–max):\n\n\
         | switch | switches | new process Ready (PID file names it) | old process exited |\n\
         |---|---|---|---|"
    );
    for o in outcomes {
        let ready = Samples(
            o.timings
                .iter()
                .map(|t| t.ready.as_secs_f64() * 1e3)
                .collect(),
        );
        let exited = Samples(
            o.timings
                .iter()
                .map(|t| t.exited.as_secs_f64() * 1e3)
                .collect(),
        );
        let name = match o.how {
            Switch::Upgrade => "in-place upgrade (SIGUSR2)",
            Switch::Restart => "plain restart (SIGTERM, start again)",
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} ({}–{}) | {} ({}–{}) |",
            o.timings.len(),
            fmt(ready.median()),
            fmt(ready.min()),
            fmt(ready.max()),
            fmt(exited.median()),
            fmt(exited.min()),
            fmt(exited.max())
        );
    }
    out.push('\n');
}
