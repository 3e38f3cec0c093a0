//! A test harness for your service (feature `testing`): run its main function in-process, the
//! way the binary runs it, from an ordinary `#[tokio::test]`.
//!
//! Declare the service once as an [`App`] (`#[lifecycle::main(...)]` on an `async fn` not named
//! `main`, in the crate's `lib.rs`), run it from `main.rs` with [`App::run`], and start it in a
//! test with [`start`]. The harness runs it with the attribute's settings and the binary's free
//! hooks, as the binary would; the test sends it signals through the same counting the real
//! ones take ([`TestApp::signal`]: the first starts the shutdown, a second forces the exit),
//! waits for it to be Ready, reaches its address and its [`Lifecycle`], and gets the
//! [report](crate::ShutdownReport) and the exit code at the end ([`Finished`]). Paused time
//! works (`#[tokio::test(start_paused = true)]`): a 30 s grace runs in milliseconds.
//!
//! ```
//! use std::time::Duration;
//! use lifecycle::{Lifecycle, Signal};
//!
//! struct Db;
//!
//! #[lifecycle::component]
//! impl Db {
//!     #[on_start]
//!     async fn connect(&self) {}
//!     #[on_shutdown(order = 10)]
//!     async fn close(&self) {}
//! }
//!
//! /// The service (in `lib.rs`); `main.rs` is `fn main() -> ExitCode { app().run() }`.
//! #[lifecycle::main(grace = "30s")]
//! pub async fn app(lc: Lifecycle) {
//!     lc.manage(std::sync::Arc::new(Db));
//!     lc.cancelled().await; // serve until the shutdown
//! }
//!
//! #[tokio::main(flavor = "current_thread", start_paused = true)] // #[tokio::test(..)] in a test
//! async fn main() {
//!     let mut app = lifecycle::testing::start(app());
//!     app.ready().await;
//!     app.signal(Signal::Terminate);
//!     let finished = app.finished().await;
//!     assert_eq!(finished.code(), 0);
//!     // Hooks are named by their path: `my_service::Db::connect` in a crate `my_service`.
//!     let hooks = finished.hooks_run();
//!     assert!(hooks[0].ends_with("::Db::connect") && hooks[1].ends_with("::Db::close"));
//! }
//! ```
//!
//! What differs from the process: no signal of the operating system is listened to, systemd is
//! not told, the `LIFECYCLE_*` environment variables and the `init` function are not applied
//! (a test sets what it needs with [`App::with_config`]), and the runtime is the test's (the
//! attribute's `flavor` and `worker_threads` do not apply). Where the process would end at
//! once (a second signal, the hard deadline), the harness stops driving the app, aborts its
//! tracked tasks and cuts its connections (a blocking task cannot be stopped, and runs on until
//! it returns), and [`Finished`] says how it ended, with no report.

// Folder `testing/` (feature `testing`): the harness, on top of everything: it drives a
// `Sequence` as the entry points do, with simulated signals and the hard deadline on the app's
// clock.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::signals::Signal;
use crate::exit::EXIT_APP_FAILED;
use crate::failure::panic_message;
use crate::handle::Lifecycle;
use crate::hooks::HookOutcome;
use crate::report::ShutdownReport;
use crate::sequence::app::{App, MainFn};
use crate::sequence::Sequence;
use crate::triggers::hearing::Simulated;
use crate::triggers::readiness::State;
use crate::triggers::watchdog::{Expiry, Watch};

/// Starts `app` on the current Tokio runtime, as its binary would start it (see the
/// [module](self)). Call it inside a runtime (`#[tokio::test]`).
///
/// A setting the config refuses ends the app at once, as the process would end, with exit code
/// 78 ([`EXIT_CONFIG`](crate::exit::EXIT_CONFIG)).
///
/// # Panics
///
/// Outside a Tokio runtime.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use lifecycle::{App, Config};
///
/// let app = App::new(Config::new(), |lc| async move { lc.cancelled().await });
/// let mut app = lifecycle::testing::start(app);
/// app.ready().await;
/// app.lifecycle().request_shutdown();
/// assert_eq!(app.finished().await.code(), 0);
/// # }
/// ```
pub fn start(app: App) -> TestApp {
    let (config, main) = app.into_parts();
    let sequence = Sequence::new(config);
    let lc = sequence.handle();
    let inner = lc.inner();
    // An upgrade would start the test binary: refused, with a line, not taken up and lost.
    inner.upgrades().refuse(
        "the service runs under lifecycle::testing: there is no process to replace (upgrades \
         are tested on a real process)",
    );
    let ears = Simulated::new(inner.config(), inner.triggers(), inner.reloads());
    let (force, forced) = mpsc::unbounded_channel();
    // The hard deadline, watched twice: on the app's clock (paused time included), and on a
    // thread of its own in real time, as the process's watchdog is: a test waiting on a
    // multi-thread runtime gets its answer even when the app blocks the threads that run it.
    let watch = inner.triggers().watch();
    let deadline = tokio::spawn(hard_deadline(Arc::clone(watch)));
    let (wall, _stop_wall) = wall_clock_deadline(Arc::clone(watch));
    let driver = tokio::spawn(drive(sequence, main));
    TestApp {
        lc,
        ears,
        force,
        forced,
        deadline,
        wall,
        _stop_wall,
        driver: Some(driver),
        finished: None,
    }
}

/// A service started by [`start`], running on the test's runtime.
///
/// Dropping it stops driving the service, as if the process were killed: its tracked tasks
/// are aborted and its connections cut.
pub struct TestApp {
    lc: Lifecycle,
    ears: Simulated,
    force: mpsc::UnboundedSender<Signal>,
    forced: mpsc::UnboundedReceiver<Signal>,
    deadline: JoinHandle<Expiry>,
    wall: oneshot::Receiver<Expiry>,
    /// Dropped with the app: the real-time watcher's thread ends.
    _stop_wall: oneshot::Sender<()>,
    driver: Option<JoinHandle<Finished>>,
    finished: Option<Finished>,
}

impl TestApp {
    /// The service's handle: its state, stats, tokens; [`request_shutdown`](Lifecycle::request_shutdown)
    /// as the app itself would call it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let app = lifecycle::App::new(lifecycle::Config::new(), |lc| async move { lc.cancelled().await });
    /// let mut app = lifecycle::testing::start(app);
    /// app.ready().await;
    /// assert_eq!(app.lifecycle().state(), lifecycle::State::Ready);
    /// # }
    /// ```
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lc
    }

    /// Waits until the service is Ready (its start hooks succeeded; with `ready = "manual"`,
    /// the app said so). Its readiness checks may not have run yet: to wait for them too, as a
    /// load balancer's probe does, use [`ready_and_checked`](Self::ready_and_checked).
    ///
    /// # Panics
    ///
    /// When the service ends without ever being Ready (its start-up failed, say), with how it
    /// ended and its report: use [`finished`](Self::finished) to test a start-up that fails.
    ///
    /// # Examples
    ///
    /// See [`start`].
    pub async fn ready(&mut self) {
        let mut state = self.lc.watch_state();
        let ready = state.wait_for(|state| *state != State::Starting);
        let reached = tokio::select! {
            biased;
            reached = ready => reached.map(|state| state.is_ready()).unwrap_or(false),
            () = self.wait_for_end() => false,
        };
        if !reached && !self.lc.state().is_ready() {
            let finished = self.end().await;
            panic!("the service ended before it was Ready: {finished}");
        }
    }

    /// Waits until the service is Ready **and** every readiness check passes: until
    /// [`Readiness::is_ready`](crate::checks::Readiness::is_ready), what `/ready` answers 200
    /// on. [`ready`](Self::ready) waits for the state alone, and may return before a check has
    /// run (`/ready` then answers 503, `check db has not run yet`). With no checks, the two are
    /// the same.
    ///
    /// A check that never passes keeps it waiting (on paused time too: the checks run on);
    /// bound it with `tokio::time::timeout` when the test may meet one.
    ///
    /// # Panics
    ///
    /// When the service ends, or its shutdown begins, before that: with the readiness last
    /// seen while it was Ready (`not ready: check postgres failed: connection refused`) and, if
    /// it ended, how.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// use lifecycle::{App, Config, Lifecycle};
    ///
    /// let app = App::new(Config::new(), |lc: Lifecycle| async move {
    ///     lc.check("cache")
    ///         .every(Duration::from_secs(1))
    ///         .run(|| async { Ok::<_, std::io::Error>(()) }); // warmed up?
    ///     lc.cancelled().await
    /// });
    /// let mut app = lifecycle::testing::start(app);
    /// app.ready_and_checked().await;
    /// assert!(app.lifecycle().readiness().is_ready()); // `/ready` answers 200
    /// assert_eq!(app.stop().await.code(), 0);
    /// # }
    /// ```
    pub async fn ready_and_checked(&mut self) {
        let mut readiness = self.lc.watch_readiness();
        let mut last = None;
        let settled = readiness.wait_for(|now| {
            if now.state() == State::Ready {
                last = Some(now.to_string());
            }
            now.is_ready() || now.state() > State::Ready
        });
        let reached = tokio::select! {
            biased;
            settled = settled => settled.is_ok_and(|now| now.is_ready()),
            () = self.wait_for_end() => false,
        };
        if reached || self.lc.readiness().is_ready() {
            return;
        }
        let ended = self.finished.is_some()
            || self
                .driver
                .as_ref()
                .is_none_or(|driver| driver.is_finished());
        match last {
            // Never Ready: what `ready` says.
            None => {
                let finished = self.end().await;
                panic!("the service ended before it was Ready: {finished}");
            }
            Some(last) if ended => {
                let finished = self.end().await;
                panic!(
                    "the service ended before every readiness check passed ({last}): {finished}"
                );
            }
            Some(last) => {
                panic!("the service's shutdown began before every readiness check passed ({last})")
            }
        }
    }

    /// The address of the first serve loop the service started (`lifecycle::axum::serve`,
    /// `lifecycle::http::serve`), waiting until it starts: bind port 0 in the app and reach it
    /// here.
    ///
    /// # Panics
    ///
    /// When the service ends before a serve loop starts, with how it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "axum")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use lifecycle::{App, Config};
    ///
    /// let app = App::new(Config::new(), |lc| async move {
    ///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     lifecycle::axum::serve(&lc, listener, axum::Router::new()).await
    /// });
    /// let mut app = lifecycle::testing::start(app);
    /// let addr = app.addr().await;
    /// assert_ne!(addr.port(), 0);
    /// # }
    /// # #[cfg(not(feature = "axum"))] fn main() {}
    /// ```
    pub async fn addr(&mut self) -> SocketAddr {
        let mut listening = self.lc.inner().connections().listening();
        let first = listening.wait_for(|addrs| !addrs.is_empty());
        let found = tokio::select! {
            biased;
            found = first => found.ok().and_then(|addrs| addrs.first().copied()),
            () = self.wait_for_end() => None,
        };
        match found.or_else(|| listening.borrow().first().copied()) {
            Some(addr) => addr,
            None => {
                let finished = self.end().await;
                panic!("the service ended before it served on an address: {finished}");
            }
        }
    }

    /// Delivers `signal` to the service, through the counting a real signal takes: the first
    /// shutdown signal starts the shutdown (or cuts its drain delay short); a second one forces
    /// the exit when `force_on_second_signal` is on (the default): the service is no longer
    /// driven and [`Finished`] says so, with the signal's exit code (128 + its number). A
    /// signal that is not a shutdown signal is what it is to the process: SIGHUP asks for a
    /// reload. Repeats within the `repeat_window` count once, as they do for a process.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use lifecycle::testing::Ending;
    /// use lifecycle::{App, Config, Signal};
    ///
    /// // A main that ignores the shutdown: only a second signal ends it before the grace.
    /// let app = App::new(Config::new(), |lc: lifecycle::Lifecycle| async move {
    ///     lc.started().await;
    ///     std::future::pending::<()>().await
    /// });
    /// let mut app = lifecycle::testing::start(app);
    /// app.ready().await;
    /// app.signal(Signal::Terminate);
    /// tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    /// app.signal(Signal::Interrupt);
    /// let finished = app.finished().await;
    /// assert_eq!(finished.ending(), &Ending::Forced(Signal::Interrupt));
    /// assert_eq!(finished.code(), 130);
    /// # }
    /// ```
    pub fn signal(&self, signal: Signal) {
        if let Some(forced) = self.ears.deliver(signal) {
            let _ = self.force.send(forced);
        }
    }

    /// Waits for the service to end, and says how: its report and exit code.
    ///
    /// # Examples
    ///
    /// See [`start`].
    pub async fn finished(mut self) -> Finished {
        self.end().await
    }

    /// Sends SIGTERM and waits for the service to end: [`signal`](Self::signal) then
    /// [`finished`](Self::finished).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let app = lifecycle::App::new(lifecycle::Config::new(), |lc| async move { lc.cancelled().await });
    /// let finished = lifecycle::testing::start(app).stop().await;
    /// assert_eq!(finished.code(), 0);
    /// # }
    /// ```
    pub async fn stop(self) -> Finished {
        self.signal(Signal::Terminate);
        self.finished().await
    }

    /// Waits until the service has ended (its report, a forced exit, the hard deadline),
    /// keeping how it ended.
    async fn wait_for_end(&mut self) {
        if self.finished.is_some() {
            return;
        }
        let Some(driver) = self.driver.as_mut() else {
            return;
        };
        let finished = tokio::select! {
            biased;
            Some(signal) = self.forced.recv() => Finished {
                code: signal.exit_code(),
                report: None,
                ending: Ending::Forced(signal),
            },
            Ok(expiry) = &mut self.deadline => expired(expiry),
            Ok(expiry) = &mut self.wall => expired(expiry),
            joined = driver => match joined {
                Ok(finished) => finished,
                Err(err) => Finished {
                    code: EXIT_APP_FAILED,
                    report: None,
                    ending: Ending::Panicked(if err.is_panic() {
                        panic_message(&*err.into_panic())
                    } else {
                        "the driver was cancelled".to_owned()
                    }),
                },
            },
        };
        // Where the process would be gone, the app is no longer driven, and what it runs is
        // stopped: its tracked tasks aborted (a blocking one cannot be), its connections cut.
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
        self.deadline.abort();
        if matches!(finished.ending, Ending::Forced(_) | Ending::HardDeadline(_)) {
            let inner = self.lc.inner();
            self.lc.token().cancel();
            let _ = inner.tasks().abort_all(false);
            let _ = inner.connections().cut_all();
        }
        self.finished = Some(finished);
    }

    async fn end(&mut self) -> Finished {
        self.wait_for_end().await;
        self.finished.take().unwrap_or_else(|| Finished {
            code: EXIT_APP_FAILED,
            report: None,
            ending: Ending::Panicked("the service's end was already taken".to_owned()),
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A service still driven is killed, as a process would be: what it runs stops with it
        // (its tracked tasks aborted, a blocking one cannot be; its connections cut).
        if let Some(driver) = self.driver.take() {
            driver.abort();
            let inner = self.lc.inner();
            self.lc.token().cancel();
            let _ = inner.tasks().abort_all(false);
            let _ = inner.connections().cut_all();
        }
        self.deadline.abort();
    }
}

impl fmt::Debug for TestApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestApp")
            .field("state", &self.lc.state())
            .finish_non_exhaustive()
    }
}

/// Runs the sequence as the entry points do, to its report.
async fn drive(sequence: Sequence, main: MainFn) -> Finished {
    if let Err(err) = sequence.handle().config().validate() {
        let err = crate::sequence::StartupError::Config(err);
        return Finished {
            code: err.code(),
            report: None,
            ending: Ending::StartupFailed(err.to_string()),
        };
    }
    sequence.register_free_hooks();
    let running = sequence.start_without_signals();
    let lc = running.handle();
    let report = running.through_to_report(main(lc)).await;
    Finished {
        code: report.code(),
        report: Some(report),
        ending: Ending::Reported,
    }
}

/// The hard deadline watched on a thread of its own, in real time: its expiry, and the sender
/// whose drop ends the thread. Without a thread (the system refusing one), the watch on the
/// app's clock remains.
fn wall_clock_deadline(watch: Arc<Watch>) -> (oneshot::Receiver<Expiry>, oneshot::Sender<()>) {
    let (expired, wall) = oneshot::channel();
    let (stop_wall, stop) = oneshot::channel::<()>();
    let _ = std::thread::Builder::new()
        .name("lifecycle-test-deadline".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                tokio::select! {
                    expiry = hard_deadline(watch) => {
                        let _ = expired.send(expiry);
                    }
                    _ = stop => {}
                }
            });
        });
    (wall, stop_wall)
}

fn expired(expiry: Expiry) -> Finished {
    Finished {
        code: expiry.code,
        report: None,
        ending: Ending::HardDeadline(expiry.message),
    }
}

/// Resolves when the hard deadline passes, on the app's clock (paused time included): each
/// deadline the sequence sets is read as the time left from now.
async fn hard_deadline(watch: Arc<Watch>) -> Expiry {
    let mut deadlines = watch.deadlines();
    loop {
        let passed = *deadlines.borrow_and_update();
        let left = passed
            .at()
            .map(|at| at.saturating_duration_since(std::time::Instant::now()));
        let expired = async {
            match left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = expired => return watch.expiry(passed),
            changed = deadlines.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// How a service started by the harness ended: its exit code, and its report when it made one.
#[derive(Debug, Clone)]
pub struct Finished {
    code: u8,
    report: Option<ShutdownReport>,
    ending: Ending,
}

/// How the service ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// It went through its shutdown and made its report.
    Reported,
    /// A second shutdown signal forced the exit: the process would have ended at once.
    Forced(Signal),
    /// The hard deadline passed (the line the process would have written).
    HardDeadline(String),
    /// Start-up failed before the sequence ran (a setting the config refuses).
    StartupFailed(String),
    /// The sequence itself panicked (a bug in the crate, or a panic it could not catch).
    Panicked(String),
}

impl Finished {
    /// The exit code the process would have ended with (see [`lifecycle::exit`](crate::exit)).
    pub fn code(&self) -> u8 {
        self.code
    }

    /// How it ended.
    pub fn ending(&self) -> &Ending {
        &self.ending
    }

    /// The shutdown report, when it made one (not after a forced exit or the hard deadline).
    pub fn report(&self) -> Option<&ShutdownReport> {
        self.report.as_ref()
    }

    /// The names of the hooks that ran (successful or not; not those skipped), in the order
    /// they ran: the start hooks, then the persist and shutdown hooks. Hooks of equal order run
    /// concurrently and are listed in the order the report lists them.
    ///
    /// # Panics
    ///
    /// When there is no report (see [`report`](Self::report)), saying how it ended.
    ///
    /// # Examples
    ///
    /// See the [module](self).
    pub fn hooks_run(&self) -> Vec<&str> {
        let report = self.expect_report("hooks_run");
        report
            .start
            .iter()
            .chain(&report.hooks)
            .filter(|hook| !matches!(hook.outcome, HookOutcome::NotRun | HookOutcome::AddedLate))
            .map(|hook| hook.name.as_str())
            .collect()
    }

    /// The names of the tasks cut at the grace deadline (by their path in a scope, or where
    /// they were spawned), in the report's order.
    ///
    /// # Panics
    ///
    /// When there is no report, saying how it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// use lifecycle::{App, Config};
    ///
    /// let app = App::new(Config::new().with_grace(Duration::from_secs(2)), |lc| async move {
    ///     lc.task("stuck").spawn(std::future::pending::<()>());
    ///     lc.cancelled().await;
    /// });
    /// let finished = lifecycle::testing::start(app).stop().await;
    /// assert_eq!(finished.tasks_cut(), ["stuck"]);
    /// assert_eq!(finished.code(), 2);
    /// # }
    /// ```
    pub fn tasks_cut(&self) -> Vec<&str> {
        let report = self.expect_report("tasks_cut");
        report
            .tasks_aborted
            .iter()
            .map(|task| task.name.as_str())
            .collect()
    }

    fn expect_report(&self, asked: &str) -> &ShutdownReport {
        match &self.report {
            Some(report) => report,
            None => panic!("`{asked}` needs the shutdown report, and there is none: {self}"),
        }
    }
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ending {
            Ending::Reported => write!(f, "exit code {}", self.code)?,
            Ending::Forced(signal) => write!(
                f,
                "forced to exit by a second signal ({signal}), exit code {}",
                self.code
            )?,
            Ending::HardDeadline(line) => write!(f, "{line}")?,
            Ending::StartupFailed(error) => {
                write!(f, "start-up failed: {error}; exit code {}", self.code)?;
            }
            Ending::Panicked(message) => {
                write!(
                    f,
                    "the sequence panicked: {message}; exit code {}",
                    self.code
                )?;
            }
        }
        if let Some(report) = &self.report {
            write!(f, "\n{report}")?;
        }
        Ok(())
    }
}
