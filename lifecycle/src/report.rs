//! The shutdown report: what started the shutdown, how long each phase took, what was aborted,
//! how every hook ended, and the exit code all of that maps to.

use std::any::Any;
use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use crate::{HookKind, Signal};

/// Exit code of a clean shutdown. The example here covers every `EXIT_*` code; see
/// [`ShutdownReport`] for which code a shutdown maps to.
///
/// # Examples
///
/// ```
/// use lifecycle::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// assert_eq!([EXIT_OK, EXIT_APP_FAILED, EXIT_ABORTED, EXIT_HOOK_FAILED], [0, 1, 2, 3]);
/// assert_eq!([EXIT_STARTUP_FAILED, EXIT_CONFIG], [71, 78]);
/// let lc = Lifecycle::new(Config::new());
/// lc.add_hook(Hook::on_shutdown("fails too", || async { Err::<(), _>("disk full") }));
/// let report = lc.run(async { Err::<(), _>("bind failed") }).await;
/// assert_eq!(report.code(), EXIT_APP_FAILED); // the first row of the table that applies
/// # }
/// ```
pub const EXIT_OK: u8 = 0;
/// Exit code when the main future returned `Err` or panicked, or a critical task failed. See
/// [`EXIT_OK`] for an example.
pub const EXIT_APP_FAILED: u8 = 1;
/// Exit code when the grace period ran out and work was aborted. See [`EXIT_OK`] for an example.
pub const EXIT_ABORTED: u8 = 2;
/// Exit code when a hook failed, panicked or timed out. See [`EXIT_OK`] for an example.
pub const EXIT_HOOK_FAILED: u8 = 3;
/// Exit code when the shutdown overran its hard deadline (the worst case plus
/// [`Config::deadline_margin`](crate::Config::deadline_margin)) and the process was ended where
/// it stood, by a thread that no blocked task or hook can stop. Hooks after the one that overran
/// did not run; the line written at that moment names the phase.
pub const EXIT_DEADLINE: u8 = 4;
/// Exit code when the service could not start (a blocking problem with the signal listener or the
/// runtime); `EX_OSERR` from `sysexits.h`. See [`EXIT_OK`] for an example.
pub const EXIT_STARTUP_FAILED: u8 = 71;
/// Exit code when a `LIFECYCLE_*` variable is invalid; `EX_CONFIG` from `sysexits.h`. See
/// [`EXIT_OK`] for an example.
pub const EXIT_CONFIG: u8 = 78;

/// What started the shutdown.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Lifecycle, Signal, Trigger};
///
/// assert_eq!(Trigger::Signal(Signal::Terminate).to_string(), "SIGTERM");
/// let lc = Lifecycle::new(Config::new());
/// lc.shutdown_with(4, "license expired");
/// let trigger = lc.trigger().unwrap();
/// assert_eq!(trigger.to_string(), "shutdown requested: license expired (exit code 4)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// A signal from the operating system (or Kubernetes, systemd, a terminal).
    Signal(Signal),
    /// The main future returned `Ok` (or `()`).
    MainReturned,
    /// The main future returned `Err` or panicked; the text is the error's `Debug` or the panic
    /// message.
    MainFailed(String),
    /// [`Lifecycle::shutdown`](crate::Lifecycle::shutdown) or
    /// [`shutdown_with`](crate::Lifecycle::shutdown_with) was called.
    Requested {
        /// The exit code asked for, if any.
        code: Option<u8>,
        /// Why, if given.
        reason: Option<String>,
    },
    /// A task spawned with [`spawn_critical`](crate::Lifecycle::spawn_critical) returned `Err` or
    /// panicked.
    TaskFailed {
        /// The task's name.
        task: String,
        /// The error's `Display` text or the panic message.
        error: String,
    },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Signal(signal) => write!(f, "{signal}"),
            Trigger::MainReturned => f.write_str("main returned"),
            Trigger::MainFailed(error) => write!(f, "main failed: {error}"),
            Trigger::Requested { code, reason } => {
                f.write_str("shutdown requested")?;
                if let Some(reason) = reason {
                    write!(f, ": {reason}")?;
                }
                if let Some(code) = code {
                    write!(f, " (exit code {code})")?;
                }
                Ok(())
            }
            Trigger::TaskFailed { task, error } => {
                write!(f, "critical task `{task}` failed: {error}")
            }
        }
    }
}

/// How the main future ended.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Lifecycle, MainOutcome};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new());
/// let report = lc.run(async { Ok::<(), std::fmt::Error>(()) }).await;
/// assert_eq!(report.main, Some(MainOutcome::Returned));
/// assert_eq!(MainOutcome::Aborted.to_string(), "aborted at the grace deadline");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MainOutcome {
    /// It returned `Ok` or `()`.
    Returned,
    /// It returned `Err`; the text is the error's `Debug`.
    Failed(String),
    /// It panicked; the text is the panic message.
    Panicked(String),
    /// It was still running at the grace deadline and was dropped.
    Aborted,
}

impl fmt::Display for MainOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MainOutcome::Returned => f.write_str("returned"),
            MainOutcome::Failed(error) => write!(f, "failed: {error}"),
            MainOutcome::Panicked(message) => write!(f, "panicked: {message}"),
            MainOutcome::Aborted => f.write_str("aborted at the grace deadline"),
        }
    }
}

/// How one hook ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Hook, HookOutcome, Lifecycle};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new().hook_timeout(Duration::from_secs(1)));
/// lc.add_hook(Hook::on_shutdown("stuck", std::future::pending::<()>));
/// let outcome = &lc.run_shutdown_hooks().await[0].outcome;
/// assert_eq!(*outcome, HookOutcome::TimedOut(Duration::from_secs(1)));
/// assert_eq!(outcome.to_string(), "timed out after 1.000s");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookOutcome {
    /// It returned `Ok` or `()`.
    Ok,
    /// It returned `Err`; the text is the error's `Display`.
    Failed(String),
    /// It panicked; the text is the panic message.
    Panicked(String),
    /// It ran past its timeout (shown) and was aborted.
    TimedOut(Duration),
}

impl HookOutcome {
    /// Whether the hook succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::HookOutcome;
    ///
    /// assert!(HookOutcome::Ok.is_ok());
    /// assert!(!HookOutcome::Failed("disk full".into()).is_ok());
    /// assert!(!HookOutcome::Panicked("oops".into()).is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, HookOutcome::Ok)
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::Ok => f.write_str("ok"),
            HookOutcome::Failed(error) => write!(f, "failed: {error}"),
            HookOutcome::Panicked(message) => write!(f, "panicked: {message}"),
            HookOutcome::TimedOut(limit) => write!(f, "timed out after {}", Millis(*limit)),
        }
    }
}

/// One hook's run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Hook, HookKind, Lifecycle};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new());
/// let save = || tokio::time::sleep(Duration::from_millis(200));
/// lc.add_hook(Hook::persist("save", save).order(7));
/// let hook = &lc.run(async {}).await.hooks[0];
/// assert_eq!((hook.name.as_str(), hook.kind, hook.order), ("save", HookKind::Persist, 7));
/// assert!(hook.outcome.is_ok());
/// assert_eq!(hook.duration, Duration::from_millis(200)); // paused clock: exact
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookReport {
    /// The hook's name.
    pub name: String,
    /// Its phase.
    pub kind: HookKind,
    /// Its order.
    pub order: i32,
    /// How it ended.
    pub outcome: HookOutcome,
    /// How long it ran (up to its timeout).
    pub duration: Duration,
}

impl HookReport {
    pub(crate) fn log(&self) {
        let elapsed_ms = self.duration.as_millis() as u64;
        if self.outcome.is_ok() {
            tracing::debug!(hook = %self.name, kind = %self.kind, order = self.order, elapsed_ms, "hook ok");
        } else {
            tracing::warn!(hook = %self.name, kind = %self.kind, order = self.order, elapsed_ms, outcome = %self.outcome, "hook did not succeed");
        }
    }
}

/// A tracked task that panicked, or a critical task that returned `Err`.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Lifecycle};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new());
/// lc.spawn_named("parser", async { if true { panic!("bad input") } });
/// let report = lc.run(async {}).await;
/// let failure = &report.task_failures[0];
/// assert_eq!((failure.task.as_str(), failure.error.as_str()), ("parser", "bad input"));
/// assert!(!failure.critical);
/// assert_eq!(report.code(), 0); // a task that is not critical does not change the code
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The task's name (the name given, or where it was spawned).
    pub task: String,
    /// The panic message or the error's `Display` text.
    pub error: String,
    /// Whether the task was spawned as critical (its failure triggers the shutdown).
    pub critical: bool,
}

/// How long each phase of the shutdown took.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Lifecycle};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new().drain_delay(Duration::from_secs(5)));
/// let handle = lc.clone();
/// lc.shutdown();
/// let report = lc.run(async move { handle.cancelled().await }).await;
/// assert_eq!(report.timings.drain_delay, Duration::from_secs(5)); // paused clock: exact
/// assert!(report.timings.total >= report.timings.drain_delay);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseTimings {
    /// Readiness Draining, before the root token was cancelled.
    pub drain_delay: Duration,
    /// From cancelling the root token until the main future and every task finished (or the
    /// grace deadline).
    pub drain: Duration,
    /// The persist hooks.
    pub persist: Duration,
    /// The shutdown hooks.
    pub hooks: Duration,
    /// From the trigger to the end of the report.
    pub total: Duration,
}

/// Everything that happened during one shutdown, and the exit code it maps to.
///
/// [`ShutdownReport::code`] follows this table (the first row that applies wins):
///
/// | code | when |
/// |---|---|
/// | the code given | [`Lifecycle::shutdown_with`](crate::Lifecycle::shutdown_with) triggered the shutdown |
/// | 1 ([`EXIT_APP_FAILED`]) | main returned `Err` or panicked, or a critical task failed |
/// | 2 ([`EXIT_ABORTED`]) | the grace period ran out: main or tasks were aborted |
/// | 3 ([`EXIT_HOOK_FAILED`]) | a hook returned `Err`, panicked or timed out |
/// | 0 ([`EXIT_OK`]) | otherwise |
///
/// Outside the report: a second signal during the shutdown exits at once with 128 + the signal
/// number (130 for SIGINT, 143 for SIGTERM); an invalid `LIFECYCLE_*` variable stops start-up
/// with 78 ([`EXIT_CONFIG`]); a failure to install signal listeners or build the runtime with 71
/// ([`EXIT_STARTUP_FAILED`]).
///
/// A panic in a task that is not critical is listed in [`task_failures`](Self::task_failures)
/// and logged, but does not change the code.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Lifecycle, Trigger};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Lifecycle::new(Config::new().grace(Duration::from_secs(2)));
/// lc.spawn_named("stubborn", std::future::pending::<()>());
/// let report = lc.run(async {}).await;
/// assert_eq!(report.trigger, Trigger::MainReturned);
/// assert_eq!(report.tasks_aborted, ["stubborn"]);
/// assert_eq!(report.code(), lifecycle::EXIT_ABORTED);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// What started the shutdown.
    pub trigger: Trigger,
    /// How the main future ended; `None` when the sequence ran without one.
    pub main: Option<MainOutcome>,
    /// How long each phase took.
    pub timings: PhaseTimings,
    /// Tasks still running at the grace deadline, by name. Async tasks were aborted; blocking
    /// tasks cannot be and were left behind (the process exits without waiting for them).
    pub tasks_aborted: Vec<String>,
    /// Tasks that panicked, and critical tasks that returned `Err`.
    pub task_failures: Vec<TaskFailure>,
    /// Every hook's run: persist hooks first, then shutdown hooks, in the order they ran.
    pub hooks: Vec<HookReport>,
}

impl ShutdownReport {
    /// The exit code, by the table above.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle, Hook};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// lc.add_hook(Hook::on_shutdown("fails", || async { Err::<(), _>("disk full") }));
    /// let report = lc.run(async {}).await;
    /// assert_eq!(report.code(), lifecycle::EXIT_HOOK_FAILED);
    /// # }
    /// ```
    pub fn code(&self) -> u8 {
        if let Trigger::Requested {
            code: Some(code), ..
        } = self.trigger
        {
            return code;
        }
        let main_failed = matches!(
            self.main,
            Some(MainOutcome::Failed(_) | MainOutcome::Panicked(_))
        );
        let critical_failed = self.task_failures.iter().any(|failure| failure.critical);
        if main_failed || critical_failed {
            EXIT_APP_FAILED
        } else if !self.tasks_aborted.is_empty() {
            EXIT_ABORTED
        } else if self.hooks.iter().any(|hook| !hook.outcome.is_ok()) {
            EXIT_HOOK_FAILED
        } else {
            EXIT_OK
        }
    }

    /// [`code`](Self::code) as the value `fn main` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::ExitCode;
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let report = lc.run(async {}).await;
    /// assert_eq!(report.exit_code(), ExitCode::SUCCESS); // return it from `fn main`
    /// # }
    /// ```
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// Logs the report as one summary event: `info` when the code is 0, `warn` otherwise. With no
    /// `tracing` subscriber installed, the summary goes to standard error instead, so it is never
    /// lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Lifecycle};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Lifecycle::new(Config::new());
    /// let report = lc.run(async {}).await;
    /// report.log(); // no subscriber here: the summary goes to standard error
    /// assert!(report.to_string().contains("(trigger: main returned; exit code 0)"));
    /// # }
    /// ```
    pub fn log(&self) {
        let code = self.code();
        let total_ms = self.timings.total.as_millis() as u64;
        let hooks_failed = self.hooks.iter().filter(|h| !h.outcome.is_ok()).count();
        if no_subscriber() {
            to_stderr(&self.to_string());
        } else if code == EXIT_OK {
            tracing::info!(trigger = %self.trigger, exit_code = code, total_ms, tasks_aborted = self.tasks_aborted.len(), hooks_failed, "shutdown report\n{self}");
        } else {
            tracing::warn!(trigger = %self.trigger, exit_code = code, total_ms, tasks_aborted = self.tasks_aborted.len(), hooks_failed, "shutdown report\n{self}");
        }
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.timings;
        writeln!(
            f,
            "shutdown finished in {} (trigger: {}; exit code {})",
            Millis(t.total),
            self.trigger,
            self.code()
        )?;
        if let Some(main) = &self.main {
            writeln!(f, "  main          {main}")?;
        }
        writeln!(f, "  drain delay   {}", Millis(t.drain_delay))?;
        write!(f, "  drain         {}", Millis(t.drain))?;
        if self.tasks_aborted.is_empty() {
            writeln!(f, ", nothing aborted")?;
        } else {
            writeln!(
                f,
                ", aborted {}: {}",
                self.tasks_aborted.len(),
                Abbreviated(&self.tasks_aborted)
            )?;
        }
        writeln!(f, "  persist       {}", Millis(t.persist))?;
        writeln!(f, "  hooks         {}", Millis(t.hooks))?;
        for failure in &self.task_failures {
            let kind = if failure.critical {
                "critical task"
            } else {
                "task"
            };
            writeln!(f, "  {kind} `{}` failed: {}", failure.task, failure.error)?;
        }
        for hook in &self.hooks {
            writeln!(
                f,
                "  {:<8} {:>6}  {:<40} {:>8}  {}",
                hook.kind,
                hook.order,
                hook.name,
                Millis(hook.duration).to_string(),
                hook.outcome
            )?;
        }
        Ok(())
    }
}

/// A duration printed in milliseconds with three significant decimals of seconds: `1.204s`,
/// `15ms`.
pub(crate) struct Millis(pub(crate) Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms >= 1000 {
            write!(f, "{}.{:03}s", ms / 1000, ms % 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// A list that stays on one line: the first ten names, then how many more.
struct Abbreviated<'a>(&'a [String]);

impl fmt::Display for Abbreviated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        for (i, name) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The message of a caught panic: the `&str` or `String` it was raised with.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Writes `text` to standard error in one `write` call. Standard error is unbuffered, and the
/// report's formatting alone would otherwise make some thirty system calls on the exit path.
pub(crate) fn to_stderr(text: &str) {
    use std::io::Write;
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    if !line.ends_with('\n') {
        line.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether no `tracing` subscriber would see an event from here.
pub(crate) fn no_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<tracing::subscriber::NoSubscriber>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ShutdownReport {
        ShutdownReport {
            trigger: Trigger::Signal(Signal::Terminate),
            main: Some(MainOutcome::Returned),
            timings: PhaseTimings::default(),
            tasks_aborted: Vec::new(),
            task_failures: Vec::new(),
            hooks: Vec::new(),
        }
    }

    fn hook(outcome: HookOutcome) -> HookReport {
        HookReport {
            name: "h".into(),
            kind: HookKind::Shutdown,
            order: 0,
            outcome,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn exit_code_table_first_matching_row_wins() {
        let clean = report();
        assert_eq!(clean.code(), EXIT_OK);

        let mut hook_failed = report();
        hook_failed
            .hooks
            .push(hook(HookOutcome::TimedOut(Duration::from_secs(1))));
        assert_eq!(hook_failed.code(), EXIT_HOOK_FAILED);

        let mut aborted = hook_failed.clone();
        aborted.tasks_aborted.push("worker".into());
        assert_eq!(aborted.code(), EXIT_ABORTED);

        let mut app_failed = aborted.clone();
        app_failed.main = Some(MainOutcome::Failed("boom".into()));
        assert_eq!(app_failed.code(), EXIT_APP_FAILED);

        let mut critical = report();
        critical.task_failures.push(TaskFailure {
            task: "t".into(),
            error: "e".into(),
            critical: true,
        });
        assert_eq!(critical.code(), EXIT_APP_FAILED);

        let mut not_critical = report();
        not_critical.task_failures.push(TaskFailure {
            task: "t".into(),
            error: "e".into(),
            critical: false,
        });
        assert_eq!(not_critical.code(), EXIT_OK);

        let mut requested = app_failed.clone();
        requested.trigger = Trigger::Requested {
            code: Some(42),
            reason: None,
        };
        assert_eq!(requested.code(), 42);
    }

    #[test]
    fn summary_names_the_trigger_the_aborted_tasks_and_each_hook() {
        let mut r = report();
        r.tasks_aborted = (0..12).map(|i| format!("worker-{i}")).collect();
        r.hooks.push(hook(HookOutcome::Failed("disk full".into())));
        let text = r.to_string();
        assert!(text.contains("trigger: SIGTERM"), "{text}");
        assert!(text.contains("exit code 2"), "{text}");
        assert!(text.contains("worker-0, worker-1"), "{text}");
        assert!(text.contains("and 2 more"), "{text}");
        assert!(text.contains("failed: disk full"), "{text}");
        assert!(text.lines().count() < 25, "{text}");
    }

    #[test]
    fn durations_print_in_ms_or_seconds() {
        assert_eq!(Millis(Duration::from_millis(15)).to_string(), "15ms");
        assert_eq!(Millis(Duration::from_millis(1204)).to_string(), "1.204s");
    }
}
