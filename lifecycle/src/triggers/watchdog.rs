//! The watchdog: a thread of its own, with a small Tokio runtime of its own, that hears the
//! signals and enforces the hard deadlines: the start phase's (the start-up timeout plus the
//! deadline margin) and the shutdown's.
//!
//! The app's tasks and hooks run on the app's runtime. When one of them blocks its worker thread
//! (`std::thread::sleep` in an async hook, a deadlock, a loop that never yields, a write to a
//! full pipe), the app's runtime can stop polling anything, its signal streams and timers
//! included. Nothing the app does runs on this thread, so the two promises hold whatever the app
//! does to its workers: a second signal exits at once, and the process is gone by the hard
//! deadline (the worst case plus [`Config::deadline_margin`](crate::Config::deadline_margin)).
//!
//! This thread never waits on a write: what it has to say on the way out is written by a helper
//! thread, given a few milliseconds, and abandoned if the write blocks.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::signals::{Signal, SignalError};
use crate::config::EXIT_SLACK;
use crate::exit::{EXIT_DEADLINE, EXIT_START_FAILED};
use crate::lock::lock;
use crate::log::{log_or_stderr, to_stderr_at_once, whole_ms, write_within, Millis};
use crate::triggers::listen::Listener;
use crate::triggers::systemd::{extend_line, status_line, Notifier};

/// How long the last words before a forced exit may take to write.
const LAST_WORDS: Duration = Duration::from_millis(50);

/// Where the shutdown stands, for the line written when the hard deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Running = 0,
    DrainDelay = 1,
    Drain = 2,
    Persist = 3,
    Hooks = 4,
    Report = 5,
    /// The start phase, before any trigger: its deadline is the start-up timeout's.
    Starting = 6,
    /// A trigger came during the start phase: until the start phase ends, the earlier of its
    /// deadline and the shutdown's holds; then the shutdown's.
    StartInterrupted = 7,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Phase::DrainDelay,
            2 => Phase::Drain,
            3 => Phase::Persist,
            4 => Phase::Hooks,
            5 => Phase::Report,
            6 => Phase::Starting,
            7 => Phase::StartInterrupted,
            _ => Phase::Running,
        }
    }

    /// The `STATUS=` systemd shows for the phase.
    fn status(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::DrainDelay => "draining: drain delay, still serving",
            Phase::Drain => "draining",
            Phase::Persist => "persisting",
            Phase::Hooks => "shutdown hooks",
            Phase::Report => "done",
            Phase::Starting => "starting",
            Phase::StartInterrupted => "stopping during start-up",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "the trigger",
            Phase::DrainDelay => "the drain delay",
            Phase::Drain => "the drain",
            Phase::Persist => "the persist hooks",
            Phase::Hooks => "the shutdown hooks",
            Phase::Report => "the report",
            Phase::Starting => "start-up",
            Phase::StartInterrupted => "the interrupted start-up",
        }
    }
}

/// The hard deadlines: the start phase's and the shutdown's. While the start phase runs, the
/// earlier of the two holds (a signal during a blocked start-up does not push its bound out);
/// once it has ended, the shutdown's alone (the rollback gets the shutdown's budget).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// The start phase's: the start-up timeout plus the deadline margin; `None` outside it.
    start: Option<Instant>,
    /// The shutdown's: `None` until the trigger (or when it lies past the end of time).
    shutdown: Option<Instant>,
}

impl Deadlines {
    /// When the process must be gone, if ever.
    pub(crate) fn at(self) -> Option<Instant> {
        match (self.start, self.shutdown) {
            (Some(start), Some(shutdown)) => Some(start.min(shutdown)),
            (start, shutdown) => start.or(shutdown),
        }
    }

    /// Whether the start phase's deadline is the one that holds.
    fn start_holds(self) -> bool {
        match (self.start, self.shutdown) {
            (Some(start), Some(shutdown)) => start <= shutdown,
            (start, _) => start.is_some(),
        }
    }
}

/// What the sequence tells the watchdog: the hard deadline, the phase, the final exit code. It
/// passes the same news on to systemd when the service runs under it
/// (see [`Watch::notify_systemd`]).
pub(crate) struct Watch {
    /// When the process must be gone.
    deadline: watch::Sender<Deadlines>,
    /// The budget the deadline was computed from, in milliseconds, for the message.
    budget_ms: AtomicU64,
    /// The start-up timeout, in milliseconds, for the message when the start phase overruns.
    startup_timeout_ms: AtomicU64,
    phase: AtomicU8,
    /// The report's exit code once the report is made; -1 before.
    final_code: AtomicI32,
    /// systemd's notification socket, once start-up found one in `NOTIFY_SOCKET`.
    systemd: OnceLock<Notifier>,
    /// Where systemd's view of the service is: `WATCHDOG=1` goes only between `READY=1` and
    /// `STOPPING=1` (held only around a send that never waits).
    systemd_running: Mutex<Running>,
    /// While running, why the readiness checks say the service is not ready (the first failing
    /// check), for systemd's `STATUS=`; `None` when none fails.
    not_ready: Mutex<Option<String>>,
    /// Set once an in-place upgrade made the new process systemd's main process: from then on
    /// this one says nothing more to systemd (its `STOPPING=1` would stop the service).
    handed_over: AtomicBool,
    /// What to undo before a forced exit (a second signal, the hard deadline), registered once
    /// there is something: the PID file. It must not block (it runs on this thread, which
    /// never waits) and takes no lock a stuck thread could hold.
    at_forced_exit: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// systemd's status while running: `running`, or `not ready: <why>` while a readiness check
/// fails.
fn running_status(not_ready: Option<&str>) -> String {
    match not_ready {
        None => Phase::Running.status().to_owned(),
        Some(why) => format!("not ready: {why}"),
    }
}

/// Whether systemd was told the service is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Running {
    NotYet,
    Yes,
    No,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self {
            deadline: watch::Sender::new(Deadlines::default()),
            budget_ms: AtomicU64::new(0),
            startup_timeout_ms: AtomicU64::new(0),
            phase: AtomicU8::new(Phase::Running as u8),
            final_code: AtomicI32::new(-1),
            systemd: OnceLock::new(),
            systemd_running: Mutex::new(Running::NotYet),
            not_ready: Mutex::new(None),
            handed_over: AtomicBool::new(false),
            at_forced_exit: OnceLock::new(),
        }
    }

    /// Sets the hard deadline to `budget` after `from`. Saturates: a budget past the end of time
    /// means no deadline.
    pub(crate) fn arm(&self, from: Instant, budget: Duration) {
        self.budget_ms.store(whole_ms(budget), Ordering::Relaxed);
        // A trigger during start-up: the start phase's deadline still holds if it is earlier,
        // until the start phase ends (see `started`).
        let starting = Phase::Starting as u8;
        let _ = self.phase.compare_exchange(
            starting,
            Phase::StartInterrupted as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.deadline
            .send_modify(|deadlines| deadlines.shutdown = from.checked_add(budget));
    }

    /// The start phase begins at `from`: unless a trigger came first, the process must be done
    /// starting by `timeout` + `margin`, or it exits with [`EXIT_START_FAILED`]. The Tokio-side
    /// timeout ends start-up at `timeout` when the runtime runs; this deadline holds when it does
    /// not (a start hook blocking its thread). Returns the deadline set, for
    /// [`started`](Self::started).
    pub(crate) fn starting(
        &self,
        from: Instant,
        timeout: Duration,
        margin: Duration,
    ) -> Option<Instant> {
        let at = from.checked_add(timeout.saturating_add(margin))?;
        self.startup_timeout_ms
            .store(whole_ms(timeout), Ordering::Relaxed);
        let mut set = false;
        self.deadline.send_if_modified(|deadlines| {
            // A trigger before start-up armed the shutdown's deadline: that one holds.
            set = deadlines.shutdown.is_none();
            if set {
                deadlines.start = Some(at);
                self.phase.store(Phase::Starting as u8, Ordering::SeqCst);
            }
            set
        });
        set.then_some(at)
    }

    /// The start phase is over (started, or failed and rolling back): its deadline is lifted;
    /// the shutdown's holds from here on, if a trigger armed it.
    pub(crate) fn started(&self) {
        self.deadline.send_if_modified(|deadlines| {
            let had = deadlines.start.is_some();
            deadlines.start = None;
            had
        });
        for during in [Phase::Starting, Phase::StartInterrupted] {
            let _ = self.phase.compare_exchange(
                during as u8,
                Phase::Running as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    /// A new phase of the shutdown: for the deadline's message, and for systemd (its status,
    /// and the time left until the hard deadline).
    pub(crate) fn enter(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        if phase != Phase::Report {
            self.tell_systemd(&[&status_line(phase.status())], true);
        }
    }

    /// The report is made: if the process is still here at the deadline (stuck writing the
    /// report, or flushing standard output), it exits with this code.
    pub(crate) fn finished(&self, code: u8) {
        self.final_code.store(i32::from(code), Ordering::Relaxed);
        self.enter(Phase::Report);
        self.tell_systemd(&[&status_line(&format!("done: exit code {code}"))], false);
    }

    /// Start-up: reads `NOTIFY_SOCKET` and, when it names a socket, says `STATUS=starting` and
    /// keeps the socket for the rest of the life. `Err` holds the warning to write (the variable
    /// is unusable, or the socket does not take the first message): the service then runs as if
    /// the variable were unset.
    pub(crate) fn notify_systemd(&self) -> Result<bool, String> {
        let Some(notifier) = Notifier::from_env()? else {
            return Ok(false);
        };
        if let Err(err) = notifier.send(&status_line("starting")) {
            return Err(format!(
                "lifecycle: cannot notify systemd through {}: {err}; continuing without",
                crate::triggers::systemd::NOTIFY_SOCKET
            ));
        }
        Ok(self.systemd.set(notifier).is_ok())
    }

    /// Readiness became Ready.
    pub(crate) fn ready(&self) {
        let mut running = lock(&self.systemd_running);
        if *running == Running::NotYet {
            *running = Running::Yes;
        }
        let status = running_status(lock(&self.not_ready).as_deref());
        self.tell_systemd(&["READY=1", &status_line(&status)], false);
    }

    /// The readiness checks changed their verdict: `why` is the first failing check (`check
    /// postgres failed: connection refused`), `None` when none fails. While running, systemd's
    /// `STATUS=` follows (`not ready: ...`, then `running` again); before `READY=1` it is kept for
    /// it, after `STOPPING=1` the stop's status stays.
    pub(crate) fn checks(&self, why: Option<String>) {
        let running = lock(&self.systemd_running);
        let mut not_ready = lock(&self.not_ready);
        if *not_ready == why {
            return;
        }
        *not_ready = why;
        if *running == Running::Yes {
            let status = running_status(not_ready.as_deref());
            self.tell_systemd(&[&status_line(&status)], false);
        }
    }

    /// The trigger fired (after [`arm`](Self::arm)): systemd's stop timeout now runs. Said
    /// once: a trigger that fired before systemd was reached is told when it is (see
    /// [`hearing::notify_systemd`](crate::triggers::hearing::notify_systemd)), and the two may race.
    pub(crate) fn stopping(&self, why: &dyn std::fmt::Display) {
        if self.systemd.get().is_some() {
            let status = status_line(&format!("stopping: {why}"));
            let mut running = lock(&self.systemd_running);
            if *running != Running::No {
                *running = Running::No;
                self.tell_systemd(&["STOPPING=1", &status], true);
            }
        }
    }

    /// Keeps systemd's watchdog fed while running: `WATCHDOG=1`, never before `READY=1` nor
    /// after `STOPPING=1` (the lock orders a ping with both).
    pub(crate) fn alive(&self) {
        let running = lock(&self.systemd_running);
        if *running == Running::Yes {
            self.tell_systemd(&["WATCHDOG=1"], false);
        }
    }

    /// An in-place upgrade succeeded: systemd hears that process `pid` is the service's main
    /// process now (`MAINPID=`, which the unit must accept from this process:
    /// `NotifyAccess=all`), and nothing more from this one, which is about to stop.
    pub(crate) fn hand_over(&self, pid: u32) {
        let status = status_line(&format!("upgraded: process {pid} took over"));
        self.tell_systemd(&[&format!("MAINPID={pid}"), &status], false);
        self.handed_over.store(true, Ordering::SeqCst);
    }

    /// Sends `lines` in one datagram, with `EXTEND_TIMEOUT_USEC=` (the time to the hard deadline
    /// plus [`EXIT_SLACK`]) when `extend` is set and there is a deadline. Never blocks; a
    /// message that cannot be sent is dropped (this may run on the watchdog thread). Nothing
    /// once the process handed the service over to another (see [`hand_over`](Self::hand_over)).
    fn tell_systemd(&self, lines: &[&str], extend: bool) {
        let Some(notifier) = self.systemd.get() else {
            return;
        };
        if self.handed_over.load(Ordering::SeqCst) {
            return;
        }
        let mut message = lines.join("\n");
        // The deadline only when asked for: the forced exits' last message takes no lock.
        let deadline = if extend {
            self.deadline.borrow().at()
        } else {
            None
        };
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            message.push('\n');
            message.push_str(&extend_line(left.saturating_add(EXIT_SLACK)));
        }
        let _ = notifier.send(&message);
    }

    /// A second signal: tells systemd why the process ends (without a lock or a wait: a stuck
    /// thread cannot hold this exit) and ends it now with 128 + the signal number.
    fn force(&self, signal: Signal) -> ! {
        let code = signal.exit_code();
        self.exit_saying(
            code,
            &format!("forced exit by a second signal ({signal}): exit code {code}"),
            format!("lifecycle: {signal} during shutdown: exiting now with code {code}"),
        )
    }

    /// Ends the process now with `code`: systemd hears `status` (without a lock or a wait),
    /// what was registered with [`at_forced_exit`](Self::at_forced_exit) is undone, then
    /// [`force_exit`] writes `message`.
    fn exit_saying(&self, code: u8, status: &str, message: String) -> ! {
        self.tell_systemd(&[&status_line(status)], false);
        if let Some(undo) = self.at_forced_exit.get() {
            undo();
        }
        force_exit(code, message)
    }

    /// Registers what a forced exit undoes first (see the field); the first registration holds.
    pub(crate) fn at_forced_exit(&self, undo: Box<dyn Fn() + Send + Sync>) {
        let _ = self.at_forced_exit.set(undo);
    }

    /// The deadline `passed` ran out.
    fn expire(&self, passed: Deadlines) -> ! {
        let expiry = self.expiry(passed);
        self.exit_saying(expiry.code, &expiry.status, expiry.message)
    }

    /// What the process does when the deadline `passed` runs out: its exit code, the `STATUS=`
    /// systemd hears, the line written. The start phase overrunning its timeout by the deadline
    /// margin means something holds the thread the Tokio-side timeout would run on (a start
    /// hook or main blocking it).
    pub(crate) fn expiry(&self, passed: Deadlines) -> Expiry {
        let phase = Phase::from_u8(self.phase.load(Ordering::SeqCst));
        if matches!(phase, Phase::Starting | Phase::StartInterrupted) && passed.start_holds() {
            let code = EXIT_START_FAILED;
            let timeout = Duration::from_millis(self.startup_timeout_ms.load(Ordering::Relaxed));
            return Expiry {
                code,
                status: format!("start-up overran its timeout: exit code {code}"),
                message: format!(
                    "lifecycle: start-up overran its startup_timeout of {} and the deadline margin \
                     (a start hook or main is blocking its thread); exiting now with code {code}",
                    Millis(timeout)
                ),
            };
        }
        let code = u8::try_from(self.final_code.load(Ordering::Relaxed)).unwrap_or(EXIT_DEADLINE);
        let budget = Duration::from_millis(self.budget_ms.load(Ordering::Relaxed));
        Expiry {
            code,
            status: format!("hard deadline passed ({}): exit code {code}", phase.status()),
            message: format!(
                "lifecycle: the shutdown overran its hard deadline of {} in {}; exiting now with code {code}",
                Millis(budget),
                phase.as_str()
            ),
        }
    }

    /// The hard deadlines as they change (the test harness enforces them on the app's clock).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn deadlines(&self) -> watch::Receiver<Deadlines> {
        self.deadline.subscribe()
    }
}

/// A passed hard deadline: the exit code, systemd's status, the line written.
pub(crate) struct Expiry {
    pub(crate) code: u8,
    status: String,
    pub(crate) message: String,
}

/// What the lifecycle does with the signals the watchdog hears. Called on the watchdog thread:
/// implementations must not block (no logging here; hand notes to the app's runtime instead).
pub(crate) trait Ears: Send + 'static {
    /// The first shutdown signal.
    fn first(&self, signal: Signal);
    /// A later shutdown signal, when forcing is off.
    fn again(&self, signal: Signal);
    /// A signal that is not a shutdown signal, or a repeat within the window.
    fn ignored(&self, signal: Signal, repeat: bool);
}

/// How the watchdog counts signals.
pub(crate) struct Rules {
    /// The signals that shut the service down.
    pub(crate) shutdown: Vec<Signal>,
    /// Signals heard only to be ignored (SIGHUP when it is not a shutdown signal).
    pub(crate) ignore: Vec<Signal>,
    pub(crate) force_on_second_signal: bool,
    pub(crate) repeat_window: Duration,
}

static STARTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set on the watchdog thread, which never calls the app's code (a metrics recorder is).
    static WATCHDOG: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this is the watchdog thread: what it changes, the app's code is told of from the
/// app's runtime instead (see `Readiness::advance`).
pub(crate) fn on_watchdog_thread() -> bool {
    WATCHDOG.with(std::cell::Cell::get)
}

/// Starts the watchdog thread, once per process. Returns when its signal streams are registered.
pub(crate) fn start(rules: Rules, ears: impl Ears, watch: Arc<Watch>) -> Result<(), SignalError> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Err(SignalError::AlreadyInstalled);
    }
    let (ready, registered) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("lifecycle-watchdog".into())
        .spawn(move || {
            WATCHDOG.with(|watchdog| watchdog.set(true));
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready.send(Err(SignalError::Thread(err)));
                    return;
                }
            };
            runtime.block_on(async move {
                let heard: Vec<Signal> = rules
                    .shutdown
                    .iter()
                    .chain(&rules.ignore)
                    .copied()
                    .collect();
                let mut listener = match Listener::install(&heard) {
                    Ok(listener) => listener,
                    Err(err) => {
                        let _ = ready.send(Err(err));
                        return;
                    }
                };
                // Signals held since `main` began come to this thread now that it listens: one
                // that came meanwhile is heard as any first signal.
                crate::triggers::held::accept_here();
                let _ = ready.send(Ok(()));
                watch_over(&mut listener, &rules, &ears, &watch).await;
            });
        });
    if let Err(err) = spawned {
        STARTED.store(false, Ordering::SeqCst);
        return Err(SignalError::Thread(err));
    }
    let outcome = registered.recv().unwrap_or_else(|_| {
        Err(SignalError::Thread(std::io::Error::other(
            "the watchdog thread ended before registering its signals",
        )))
    });
    if outcome.is_err() {
        STARTED.store(false, Ordering::SeqCst);
    }
    outcome
}

async fn watch_over(listener: &mut Listener, rules: &Rules, ears: &impl Ears, watch: &Watch) {
    let mut deadline = watch.deadline.subscribe();
    let mut count = Count::default();
    loop {
        let deadlines = *deadline.borrow_and_update();
        tokio::select! {
            signal = listener.recv() => {
                // Nothing here may end the thread: a panic in user code reached through a waker
                // must not leave the process deaf to signals.
                let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    count.hear(signal, Instant::now(), rules, ears)
                }));
                if let Ok(Verdict::Force(signal)) = heard {
                    watch.force(signal);
                }
            }
            () = until(deadlines.at()) => watch.expire(deadlines),
            changed = deadline.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep(at.saturating_duration_since(Instant::now())).await,
        None => std::future::pending().await,
    }
}

/// What a counted signal asks of the watchdog.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed on to the [`Ears`], or ignored.
    Told,
    /// A second signal with forcing on: exit now.
    Force(Signal),
}

/// Signals counted so far. Counts deliveries of shutdown signals, not triggers: the first one
/// starts (or hurries) the shutdown whatever else started it; only a second one forces.
#[derive(Default)]
pub(crate) struct Count {
    counted: u32,
    last: Option<(Signal, Instant)>,
}

impl Count {
    pub(crate) fn hear(
        &mut self,
        signal: Signal,
        now: Instant,
        rules: &Rules,
        ears: &impl Ears,
    ) -> Verdict {
        if !rules.shutdown.contains(&signal) {
            ears.ignored(signal, false);
            return Verdict::Told;
        }
        if let Some((last, at)) = self.last {
            if last == signal && now.saturating_duration_since(at) < rules.repeat_window {
                ears.ignored(signal, true);
                return Verdict::Told;
            }
        }
        self.last = Some((signal, now));
        self.counted = self.counted.saturating_add(1);
        if self.counted == 1 {
            ears.first(signal);
        } else if rules.force_on_second_signal {
            return Verdict::Force(signal);
        } else {
            ears.again(signal);
        }
        Verdict::Told
    }
}

/// Ends the process now with `code`. `message` is written to standard error at once when that
/// cannot block, or else (through `tracing`, or to standard error) by a helper thread that gets
/// [`LAST_WORDS`] to do it; a blocked write is abandoned.
/// Nothing is flushed and no destructor runs: a full pipe or a held lock cannot delay the exit.
pub(crate) fn force_exit(code: u8, message: String) -> ! {
    if to_stderr_at_once(&message) {
        exit_now(code)
    }
    write_within("lifecycle-last-words", LAST_WORDS, move || {
        log_or_stderr(tracing::Level::ERROR, &message);
    });
    exit_now(code)
}

#[cfg(unix)]
fn exit_now(code: u8) -> ! {
    // SAFETY: `_exit` ends the process at once. It runs no atexit handlers and flushes no stdio
    // buffers, which is the point: either could block on a full pipe or a lock held by a stuck
    // thread.
    unsafe { libc::_exit(i32::from(code)) }
}

#[cfg(not(unix))]
fn exit_now(code: u8) -> ! {
    std::process::exit(i32::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default, Clone)]
    struct Heard(Arc<Mutex<Vec<String>>>);

    impl Ears for Heard {
        fn first(&self, signal: Signal) {
            self.0.lock().unwrap().push(format!("first {signal}"));
        }
        fn again(&self, signal: Signal) {
            self.0.lock().unwrap().push(format!("again {signal}"));
        }
        fn ignored(&self, signal: Signal, repeat: bool) {
            self.0
                .lock()
                .unwrap()
                .push(format!("ignored {signal} {repeat}"));
        }
    }

    fn rules() -> Rules {
        Rules {
            shutdown: vec![Signal::Terminate, Signal::Interrupt],
            ignore: vec![Signal::Hangup],
            force_on_second_signal: false,
            repeat_window: Duration::from_millis(50),
        }
    }

    #[test]
    fn repeats_within_the_window_are_one_delivery_and_later_ones_count() {
        let heard = Heard::default();
        let mut count = Count::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        count.hear(Signal::Terminate, t0, &rules(), &heard);
        count.hear(Signal::Terminate, t0 + ms(1), &rules(), &heard);
        count.hear(Signal::Terminate, t0 + ms(49), &rules(), &heard);
        count.hear(Signal::Hangup, t0 + ms(60), &rules(), &heard);
        count.hear(Signal::Terminate, t0 + ms(70), &rules(), &heard);
        // A different signal is never a repeat, however close.
        count.hear(Signal::Interrupt, t0 + ms(71), &rules(), &heard);
        assert_eq!(
            *heard.0.lock().unwrap(),
            [
                "first SIGTERM",
                "ignored SIGTERM true",
                "ignored SIGTERM true",
                "ignored SIGHUP false",
                "again SIGTERM",
                "again SIGINT",
            ]
        );
    }

    #[test]
    fn a_zero_window_counts_every_delivery() {
        let heard = Heard::default();
        let mut count = Count::default();
        let rules = Rules {
            repeat_window: Duration::ZERO,
            ..rules()
        };
        let t0 = Instant::now();
        count.hear(Signal::Terminate, t0, &rules, &heard);
        count.hear(Signal::Terminate, t0, &rules, &heard);
        assert_eq!(*heard.0.lock().unwrap(), ["first SIGTERM", "again SIGTERM"]);
    }

    #[test]
    fn with_forcing_on_the_second_delivery_asks_for_the_forced_exit() {
        let heard = Heard::default();
        let mut count = Count::default();
        let rules = Rules {
            force_on_second_signal: true,
            ..rules()
        };
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(
            count.hear(Signal::Terminate, t0, &rules, &heard),
            Verdict::Told
        );
        let repeat = count.hear(Signal::Terminate, t0 + ms(10), &rules, &heard);
        assert_eq!(repeat, Verdict::Told);
        let second = count.hear(Signal::Interrupt, t0 + ms(100), &rules, &heard);
        assert_eq!(second, Verdict::Force(Signal::Interrupt));
        assert_eq!(
            *heard.0.lock().unwrap(),
            ["first SIGTERM", "ignored SIGTERM true"]
        );
    }

    #[test]
    fn the_start_deadline_is_lifted_by_the_end_of_start_up_and_replaced_by_a_trigger() {
        let phase = |watch: &Watch| Phase::from_u8(watch.phase.load(Ordering::SeqCst));
        let now = Instant::now();
        let s = Duration::from_secs;
        // Start-up ends: its deadline is gone.
        let at_of = |watch: &Watch| watch.deadline.borrow().at();
        let watch = Watch::new();
        let at = watch.starting(now, s(1), s(1));
        assert_eq!(at, Some(now + s(2)));
        assert_eq!((at_of(&watch), phase(&watch)), (at, Phase::Starting));
        watch.started();
        assert_eq!((at_of(&watch), phase(&watch)), (None, Phase::Running));
        // A trigger during start-up: the earlier bound holds while the start phase runs (here
        // the start phase's), then the shutdown's alone.
        let watch = Watch::new();
        watch.starting(now, s(1), s(1));
        watch.arm(now, s(30));
        assert_eq!(phase(&watch), Phase::StartInterrupted);
        assert_eq!(at_of(&watch), Some(now + s(2)));
        assert!(watch.deadline.borrow().start_holds());
        watch.started();
        assert_eq!(at_of(&watch), Some(now + s(30)));
        assert_eq!(phase(&watch), Phase::Running);
        // ... or the shutdown's, when it is the earlier.
        let watch = Watch::new();
        watch.starting(now, s(60), s(1));
        watch.arm(now, s(3));
        assert_eq!(at_of(&watch), Some(now + s(3)));
        assert!(!watch.deadline.borrow().start_holds());
        // A trigger before start-up: no start deadline is set over the shutdown's.
        let watch = Watch::new();
        watch.arm(now, s(30));
        assert_eq!(watch.starting(now, s(1), s(1)), None);
        assert_eq!(at_of(&watch), Some(now + s(30)));
        // A timeout past the end of time: no deadline.
        assert_eq!(Watch::new().starting(now, Duration::MAX, s(1)), None);
    }

    #[test]
    fn deadlines_saturate_and_phases_read_back() {
        let watch = Watch::new();
        watch.arm(Instant::now(), Duration::MAX);
        assert_eq!(watch.deadline.borrow().at(), None);
        assert_eq!(watch.budget_ms.load(Ordering::Relaxed), u64::MAX);
        watch.arm(Instant::now(), Duration::from_secs(1));
        assert!(watch.deadline.borrow().at().is_some());
        for phase in [Phase::Running, Phase::Drain, Phase::Hooks, Phase::Report] {
            watch.enter(phase);
            assert_eq!(Phase::from_u8(watch.phase.load(Ordering::Relaxed)), phase);
        }
    }
}
