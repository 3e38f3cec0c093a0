//! The shutdown report: what started the shutdown, how long each phase took, what was aborted,
//! how every hook ended, and the exit code all of that maps to.

// Folder `report/`: the report's fields, its text, and the exit code they map to. The records it
// holds are defined with the code that makes them (tasks, hooks, connections, stages) and shown
// here; the report is assembled by the sequence.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::signals::Signal;
use crate::failure::Failure;
use crate::log::{
    no_subscriber, quietly, to_stderr, to_stderr_at_once, whole_ms, write_within, Millis,
};

pub(crate) mod builder;
use crate::config::ReportFormat;
#[cfg(feature = "serde")]
mod json;

use crate::exit::{EXIT_ABORTED, EXIT_APP_FAILED, EXIT_HOOK_FAILED, EXIT_OK, EXIT_START_FAILED};

/// How the main future ended.
///
/// # Examples
///
/// ```
/// use lifecycle::report::MainOutcome;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new());
/// let lc = sequence.handle();
/// let report = sequence.run_without_signals(async { Ok::<(), std::fmt::Error>(()) }).await;
/// assert_eq!(report.main, Some(MainOutcome::Returned));
/// assert_eq!(MainOutcome::Aborted.to_string(), "aborted at the grace deadline");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MainOutcome {
    /// It returned `Ok` or `()`.
    Returned,
    /// It returned `Err`.
    Failed(Failure),
    /// It panicked; the text is the panic message.
    Panicked(String),
    /// It was still running at the grace deadline and was dropped.
    Aborted,
    /// It was still running at the grace deadline and was dropped, and dropping it panicked
    /// (the text is the panic message). The panic was caught; the sequence went on.
    AbortedDropPanicked(String),
}

impl fmt::Display for MainOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MainOutcome::Returned => f.write_str("returned"),
            MainOutcome::Failed(error) => write!(f, "failed: {error:#}"),
            MainOutcome::Panicked(message) => write!(f, "panicked: {message}"),
            MainOutcome::Aborted => f.write_str("aborted at the grace deadline"),
            MainOutcome::AbortedDropPanicked(message) => write!(
                f,
                "aborted at the grace deadline; dropping it panicked: {message}"
            ),
        }
    }
}

use crate::hooks::{DropPanic, HookReport};
use crate::tasks::connections::ConnectionReport;
use crate::tasks::records::{AbortedTask, TaskFailure};
use crate::tasks::run::Restarted;
use crate::tasks::stages::StageDrain;
use crate::triggers::Trigger;

/// How long each phase of the shutdown took.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_drain_delay(Duration::from_secs(5)));
/// let lc = sequence.handle();
/// let handle = lc.clone();
/// let report = sequence
///     .run_without_signals(async move {
///         handle.started().await; // Ready (before Ready there is no drain delay)
///         handle.request_shutdown();
///         handle.cancelled().await
///     })
///     .await;
/// assert_eq!(report.timings.drain_delay, Duration::from_secs(5)); // paused clock: exact
/// assert!(report.timings.total >= report.timings.drain_delay);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseTimings {
    /// The start phase: the start hooks (and the wait for `set_ready`, when asked for). Before
    /// the trigger, so not part of [`total`](Self::total).
    pub start: Duration,
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
/// | the code given | [`Lifecycle::request_shutdown_with`](crate::Lifecycle::request_shutdown_with) triggered the shutdown |
/// | 1 ([`EXIT_APP_FAILED`]) | main returned `Err` or panicked, or a critical task failed |
/// | 5 ([`EXIT_START_FAILED`]) | start-up failed: a start hook failed, panicked or timed out, the start-up timeout ran out (`main` never reaching its start boundary included), a start hook was added after the start boundary, or the shutdown was triggered before start-up ended |
/// | 2 ([`EXIT_ABORTED`]) | the grace period ran out: main, tasks or connections were aborted (or left running), or requests counted by `lifecycle::http::InFlightLayer` were still in flight; or a task spawned after the drain was still running at the report |
/// | 3 ([`EXIT_HOOK_FAILED`]) | a hook returned `Err`, panicked, timed out or lost its report, or a value a hook held panicked in its `Drop` ([`drop_panics`](Self::drop_panics)) |
/// | 0 ([`EXIT_OK`]) | otherwise |
///
/// A requested code hides nothing: when it differs from what the table gives without it, the
/// summary says so on a line of its own (`exit code 0 was requested; without it the code would
/// be 3`) and the summary is logged as a warning.
///
/// Outside the report: a second signal during the shutdown exits at once with 128 + the signal
/// number (130 for SIGINT, 143 for SIGTERM); a shutdown that overruns its hard deadline ends
/// with 4 ([`EXIT_DEADLINE`](crate::exit::EXIT_DEADLINE)); an invalid `LIFECYCLE_*` variable stops start-up
/// with 78 ([`EXIT_CONFIG`](crate::exit::EXIT_CONFIG)); a failure to install signal listeners or build the runtime with 71
/// ([`EXIT_OS_ERROR`](crate::exit::EXIT_OS_ERROR)); a budget asked for with `LIFECYCLE_PRINT_BUDGET=1` that standard
/// output did not take with 74 ([`EXIT_IO_ERROR`](crate::exit::EXIT_IO_ERROR)).
///
/// A task that is not critical and panics or returns `Err` is listed in
/// [`task_failures`](Self::task_failures) and logged, but does not change the code.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::Trigger;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(2)));
/// let lc = sequence.handle();
/// lc.task("stubborn").spawn(std::future::pending::<()>());
/// let report = sequence.run_without_signals(async {}).await;
/// assert_eq!(report.trigger, Trigger::MainReturned);
/// assert_eq!(report.tasks_aborted[0].name, "stubborn");
/// assert_eq!(report.code(), lifecycle::exit::EXIT_ABORTED);
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
    /// Tasks still running at the grace deadline (and tasks spawned after the drain still
    /// running at the report), the first [`MAX_TASKS_NAMED`](crate::tasks::MAX_TASKS_NAMED) of them. The main future is not
    /// a task: its fate is in [`main`](Self::main).
    pub tasks_aborted: Vec<AbortedTask>,
    /// How many tasks were aborted or left running in all. The connections the deadline cut are
    /// counted in [`connections`](Self::connections) (`cut_total`), not here: the summary's drain
    /// line counts both.
    pub tasks_aborted_total: usize,
    /// What the lifecycle's serve loop did with its connections: counts at the trigger, what
    /// finished, what the deadline cut (each connection named by its client, with the requests
    /// it had in flight). `None` when the app served nothing through `lifecycle::http`.
    pub connections: Option<ConnectionReport>,
    /// Tasks that panicked or returned `Err`, one entry per task name.
    pub task_failures: Vec<TaskFailure>,
    /// Failures of tasks whose names did not fit in [`task_failures`](Self::task_failures).
    pub task_failures_other: u64,
    /// Failures kept by a scope ([`keep_failures`](crate::tasks::scope::Scope::keep_failures)) and
    /// taken by its [`join`](crate::tasks::scope::Scope::join): handled by the app, so not in
    /// [`task_failures`](Self::task_failures); only counted.
    pub task_failures_handled: u64,
    /// Every hook's run: persist hooks first, then shutdown hooks, in the order they ran.
    pub hooks: Vec<HookReport>,
    /// A first signal that arrived after something else had triggered the shutdown: it did not
    /// force the exit, it only cut the drain delay short.
    pub hurried_by: Option<Signal>,
    /// Every start hook: how it ended and how long it ran, in run order; after a failed
    /// start-up, the ones that never ran last ([`HookOutcome::NotRun`](crate::hooks::HookOutcome::NotRun)).
    pub start: Vec<HookReport>,
    /// Why start-up failed, if it did (exit code [`EXIT_START_FAILED`]).
    pub start_failed: Option<Failure>,
    /// How many reloads ran.
    pub reloads: u64,
    /// Reload hook runs that did not succeed (the first ten). They do not change the exit
    /// code: the service kept running on what it had.
    pub reload_failures: Vec<HookReport>,
    /// Each stop stage's drain, in the order they were cancelled: the unstaged work first. Empty
    /// when the app used no [stage](crate::tasks::Stage).
    pub stages: Vec<StageDrain>,
    /// The restarts of supervised parts ([`Run`](crate::tasks::Run)), the first
    /// [`MAX_RESTARTS_NAMED`](crate::tasks::MAX_RESTARTS_NAMED) of them.
    pub restarts: Vec<Restarted>,
    /// How many restarts there were in all.
    pub restarts_total: usize,
    /// Values held by hooks whose `Drop` panicked when the lifecycle let go of them, after the
    /// shutdown hooks (exit code 3, as for a failed hook).
    pub drop_panics: Vec<DropPanic>,
    /// How [`log`](Self::log) prints the report: the sequence's
    /// [`report_format`](crate::Config::report_format).
    format: ReportFormat,
}

impl ShutdownReport {
    /// The exit code, by the table above.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::hooks::HookKind;
    /// use lifecycle::{Config, Hook, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.manage(Hook::new(HookKind::Shutdown, "fails", || async { Err::<(), _>("disk full") }));
    /// let report = sequence.run_without_signals(async {}).await;
    /// assert_eq!(report.code(), lifecycle::exit::EXIT_HOOK_FAILED);
    /// # }
    /// ```
    pub fn code(&self) -> u8 {
        self.requested_code()
            .unwrap_or_else(|| self.code_by_outcome())
    }

    fn requested_code(&self) -> Option<u8> {
        match self.trigger {
            Trigger::Requested { code, .. } => code,
            _ => None,
        }
    }

    /// The code by the table, ignoring a requested code.
    fn code_by_outcome(&self) -> u8 {
        let main_failed = matches!(
            self.main,
            Some(MainOutcome::Failed(_) | MainOutcome::Panicked(_))
        );
        let critical_failed = self
            .task_failures
            .iter()
            .any(|failure| failure.critical && !failure.kept);
        if main_failed || critical_failed {
            EXIT_APP_FAILED
        } else if self.start_failed.is_some() {
            EXIT_START_FAILED
        } else if !self.cut_at_deadline().is_empty() {
            EXIT_ABORTED
        } else if self.hooks.iter().any(|hook| !hook.outcome.is_ok())
            || !self.drop_panics.is_empty()
        {
            EXIT_HOOK_FAILED
        } else {
            EXIT_OK
        }
    }

    /// What the grace deadline cut short: the one rule behind both exit code 2 and the summary's
    /// drain line, so the two cannot disagree.
    fn cut_at_deadline(&self) -> CutAtDeadline {
        CutAtDeadline {
            main: matches!(
                self.main,
                Some(MainOutcome::Aborted | MainOutcome::AbortedDropPanicked(_))
            ),
            tasks: self.tasks_aborted_total,
            connections: self.connections.as_ref().map_or(0, |c| c.cut_total),
            requests: self
                .connections
                .as_ref()
                .map_or(0, |c| c.layer_requests_cut),
        }
    }

    /// [`code`](Self::code) as the value `fn main` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::ExitCode;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let report = sequence.run_without_signals(async {}).await;
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
    /// A report made by a sequence whose [`report_format`](crate::Config::report_format) is
    /// [`ReportFormat::Json`] is logged as its one JSON line instead of the text, by the same
    /// rules (`ShutdownReport::to_json`, with the `serde` feature).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// let report = sequence.run_without_signals(async {}).await;
    /// report.log(); // no subscriber here: the summary goes to standard error
    /// assert!(report.to_string().contains("(trigger: main returned; exit code 0)"));
    /// # }
    /// ```
    ///
    /// A summary for standard error is written at once when standard error takes it without
    /// blocking (a file, `/dev/null`, a pipe with room). Otherwise it is written by a helper
    /// thread that gets a second to do it: a subscriber writing to a full pipe or a closed
    /// standard error can delay the exit by that much, never block it or make it fail.
    pub fn log(&self) {
        #[cfg(feature = "serde")]
        if self.format == ReportFormat::Json {
            self.log_json();
            return;
        }
        if no_subscriber() && to_stderr_at_once(&self.to_string()) {
            return;
        }
        let report = self.clone();
        if !write_within("lifecycle-report", REPORT_WRITE, move || report.emit()) {
            self.emit();
        }
    }

    fn emit(&self) {
        let code = self.code();
        let total_ms = whole_ms(self.timings.total);
        let hooks_failed = self.hooks.iter().filter(|h| !h.outcome.is_ok()).count();
        let tasks_aborted = self.tasks_aborted_total;
        // Beside `tasks_aborted`: the serve loop's connections are not tasks of the list.
        let connections_cut = self.cut_at_deadline().connections;
        let worrying = code != EXIT_OK || self.code_by_outcome() != EXIT_OK;
        quietly(|| {
            if no_subscriber() {
                to_stderr(&self.to_string());
            } else if !worrying {
                tracing::info!(trigger = %self.trigger, exit_code = code, total_ms, tasks_aborted, connections_cut, hooks_failed, "shutdown report\n{self}");
            } else {
                tracing::warn!(trigger = %self.trigger, exit_code = code, total_ms, tasks_aborted, connections_cut, hooks_failed, "shutdown report\n{self}");
            }
        });
    }
}

impl ShutdownReport {
    /// The sequence's report format, for [`log`](Self::log).
    pub(crate) fn set_format(&mut self, format: ReportFormat) {
        self.format = format;
    }
}

/// How long [`ShutdownReport::log`] waits for the summary to be written.
const REPORT_WRITE: Duration = Duration::from_secs(1);

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Failing tasks listed one per line; the rest are counted.
        const FAILURES_SHOWN: usize = 10;
        let t = &self.timings;
        writeln!(
            f,
            "shutdown finished in {} (trigger: {}; exit code {})",
            Millis(t.total),
            self.trigger,
            self.code()
        )?;
        if let Some(requested) = self.requested_code() {
            let by_outcome = self.code_by_outcome();
            if requested != by_outcome {
                writeln!(
                    f,
                    "  note          exit code {requested} was requested; without it the code would be {by_outcome}"
                )?;
            }
        }
        if let Some(signal) = self.hurried_by {
            writeln!(
                f,
                "  note          hurried by {signal}: the drain delay was cut short (a second signal would force the exit)"
            )?;
        }
        if !self.start.is_empty() || self.start_failed.is_some() {
            write!(f, "  start         {}", Millis(t.start))?;
            match &self.start_failed {
                Some(why) => writeln!(f, ", failed: {why:#}; stopped only what had started")?,
                None => writeln!(f)?,
            }
            for hook in &self.start {
                hook_line(f, hook)?;
            }
        }
        if let Some(main) = &self.main {
            writeln!(f, "  main          {main}")?;
        }
        writeln!(f, "  drain delay   {}", Millis(t.drain_delay))?;
        write!(f, "  drain         {}", Millis(t.drain))?;
        let stopped: Vec<&AbortedTask> = self.tasks_aborted.iter().filter(|t| t.stopped).collect();
        let running: Vec<&AbortedTask> = self.tasks_aborted.iter().filter(|t| !t.stopped).collect();
        let cut = self.cut_at_deadline();
        if cut.is_empty() {
            writeln!(f, ", nothing aborted")?;
        } else {
            writeln!(f, ", {cut} cut short")?;
        }
        if self.tasks_aborted_total > 0 {
            let unnamed = self.tasks_aborted_total - self.tasks_aborted.len();
            if !stopped.is_empty() {
                writeln!(f, "    aborted       {}", Abbreviated(&stopped))?;
            }
            if !running.is_empty() {
                writeln!(
                    f,
                    "    left running  {} (stuck in synchronous code or blocking: still running while the hooks ran)",
                    Abbreviated(&running)
                )?;
            }
            if unnamed > 0 {
                writeln!(f, "    and {unnamed} more not named")?;
            }
        }
        for stage in &self.stages {
            writeln!(f, "    {stage}")?;
        }
        if let Some(connections) = &self.connections {
            if connections.connections_seen {
                writeln!(f, "  connections   {connections}")?;
            } else {
                writeln!(f, "  requests      {connections}")?;
            }
            if !connections.cut.is_empty() {
                let unnamed = connections.cut_total - connections.cut.len();
                writeln!(f, "    cut           {}", Abbreviated(&connections.cut))?;
                if unnamed > 0 {
                    writeln!(f, "    and {unnamed} more not named")?;
                }
            }
        }
        writeln!(f, "  persist       {}", Millis(t.persist))?;
        writeln!(f, "  hooks         {}", Millis(t.hooks))?;
        for failure in self.task_failures.iter().take(FAILURES_SHOWN) {
            let kind = match (failure.kept, failure.critical) {
                (true, true) => "kept critical task (no join took it)",
                (true, false) => "kept task (no join took it)",
                (false, true) => "critical task",
                (false, false) => "task",
            };
            if failure.count == 1 {
                writeln!(f, "  {kind} `{}` failed: {:#}", failure.task, failure.first)?;
            } else {
                writeln!(
                    f,
                    "  {kind} `{}` failed {} times; first: {:#}; last: {:#}",
                    failure.task, failure.count, failure.first, failure.last
                )?;
            }
        }
        let more: u64 = self
            .task_failures
            .iter()
            .skip(FAILURES_SHOWN)
            .map(|failure| failure.count)
            .sum::<u64>()
            .saturating_add(self.task_failures_other);
        if more > 0 {
            writeln!(f, "  and {more} more task failures")?;
        }
        if self.task_failures_handled > 0 {
            writeln!(
                f,
                "  handled       {} task failures (kept by scopes, taken by their join)",
                self.task_failures_handled
            )?;
        }
        for restart in self.restarts.iter().take(FAILURES_SHOWN) {
            writeln!(f, "  restarted     {restart}")?;
        }
        let unshown = self
            .restarts_total
            .saturating_sub(FAILURES_SHOWN.min(self.restarts.len()));
        if unshown > 0 {
            writeln!(f, "  and {unshown} more restarts")?;
        }
        if self.reloads > 0 {
            let failed = self.reload_failures.len();
            writeln!(
                f,
                "  reloads       {} ({failed} hook runs failed)",
                self.reloads
            )?;
            for hook in &self.reload_failures {
                hook_line(f, hook)?;
            }
        }
        for hook in &self.hooks {
            hook_line(f, hook)?;
        }
        for dropped in &self.drop_panics {
            writeln!(f, "  dropped       {dropped}")?;
        }
        Ok(())
    }
}

/// What the grace deadline cut short, as the drain line counts it: `main, 2 tasks, 1
/// connection and 3 requests`.
struct CutAtDeadline {
    /// The main future was dropped at the deadline.
    main: bool,
    tasks: usize,
    connections: usize,
    /// Requests the in-flight layer counted outside the serve loop's connections.
    requests: usize,
}

impl CutAtDeadline {
    fn is_empty(&self) -> bool {
        !self.main && self.tasks == 0 && self.connections == 0 && self.requests == 0
    }
}

impl fmt::Display for CutAtDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counted = |n: usize, what: &str| match n {
            1 => format!("1 {what}"),
            n => format!("{n} {what}s"),
        };
        let mut parts = Vec::new();
        if self.main {
            parts.push("main".to_owned());
        }
        if self.tasks > 0 {
            parts.push(counted(self.tasks, "task"));
        }
        if self.connections > 0 {
            parts.push(counted(self.connections, "connection"));
        }
        if self.requests > 0 {
            parts.push(counted(self.requests, "request"));
        }
        let last = parts.pop().unwrap_or_default();
        if !parts.is_empty() {
            write!(f, "{} and ", parts.join(", "))?;
        }
        f.write_str(&last)
    }
}

/// One hook's line in the summary: kind, order, name, duration, outcome.
fn hook_line(f: &mut fmt::Formatter<'_>, hook: &HookReport) -> fmt::Result {
    writeln!(
        f,
        "  {:<8} {:>6}  {:<40} {:>8}  {}",
        hook.kind,
        hook.order,
        hook.name,
        Millis(hook.duration).to_string(),
        hook.outcome
    )
}

/// A list that stays on one line: the first ten names, then how many more.
struct Abbreviated<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for Abbreviated<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        for (i, name) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::{HookKind, HookOutcome};
    use crate::tasks::{ConnectionStats, CutConnection, RequestLine, TaskKind};

    /// An empty report of a SIGTERM after which main returned: the builder's, finished at once.
    fn report() -> ShutdownReport {
        let trigger = Trigger::Signal(Signal::Terminate);
        let mut report =
            super::builder::ReportBuilder::begin().finish(trigger, Duration::ZERO, None);
        report.main = Some(MainOutcome::Returned);
        report
    }

    fn failure(task: &str, critical: bool) -> TaskFailure {
        TaskFailure {
            task: task.into(),
            critical,
            kept: false,
            count: 1,
            first: Failure::new("e"),
            last: Failure::new("e"),
        }
    }

    fn aborted(name: String) -> AbortedTask {
        AbortedTask {
            name,
            kind: TaskKind::Async,
            stopped: true,
            late: false,
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

        let mut lost = report();
        lost.hooks
            .push(hook(HookOutcome::Lost("runner panicked".into())));
        assert_eq!(lost.code(), EXIT_HOOK_FAILED);

        let mut aborted = hook_failed.clone();
        aborted
            .tasks_aborted
            .push(super::tests::aborted("worker".into()));
        aborted.tasks_aborted_total = 1;
        assert_eq!(aborted.code(), EXIT_ABORTED);

        let mut main_aborted = report();
        main_aborted.main = Some(MainOutcome::AbortedDropPanicked("guard".into()));
        assert_eq!(main_aborted.code(), EXIT_ABORTED);

        let mut app_failed = aborted.clone();
        app_failed.main = Some(MainOutcome::Failed(Failure::new("boom")));
        assert_eq!(app_failed.code(), EXIT_APP_FAILED);

        // The README's table, row by row: 1 before 5 (main failing during start-up), 5 before 2.
        let mut start_failed = aborted.clone();
        start_failed.start_failed = Some(Failure::new("interrupted by SIGTERM"));
        assert_eq!(start_failed.code(), EXIT_START_FAILED);
        let mut main_failed_at_start = start_failed.clone();
        main_failed_at_start.main = Some(MainOutcome::Failed(Failure::new("corrupt counter")));
        assert_eq!(main_failed_at_start.code(), EXIT_APP_FAILED);

        let mut critical = report();
        critical.task_failures.push(failure("t", true));
        assert_eq!(critical.code(), EXIT_APP_FAILED);

        let mut not_critical = report();
        not_critical.task_failures.push(failure("t", false));
        assert_eq!(not_critical.code(), EXIT_OK);

        let mut requested = app_failed.clone();
        requested.trigger = Trigger::Requested {
            code: Some(42),
            reason: None,
        };
        assert_eq!(requested.code(), 42);
    }

    #[test]
    fn a_requested_code_is_used_but_never_hides_a_failure() {
        let mut r = report();
        r.trigger = Trigger::Requested {
            code: Some(0),
            reason: None,
        };
        assert!(!r.to_string().contains("was requested"));
        r.hooks
            .push(hook(HookOutcome::Failed(Failure::new("disk full"))));
        assert_eq!(r.code(), 0);
        let text = r.to_string();
        assert!(
            text.contains("exit code 0 was requested; without it the code would be 3"),
            "{text}"
        );
    }

    #[test]
    fn summary_names_the_trigger_the_aborted_tasks_and_each_hook() {
        let mut r = report();
        r.tasks_aborted = (0..12).map(|i| aborted(format!("worker-{i}"))).collect();
        r.tasks_aborted[11].stopped = false;
        r.tasks_aborted_total = 500;
        r.hooks
            .push(hook(HookOutcome::Failed(Failure::new("disk full"))));
        r.hurried_by = Some(Signal::Terminate);
        let text = r.to_string();
        assert!(text.contains("trigger: SIGTERM"), "{text}");
        assert!(text.contains("exit code 2"), "{text}");
        assert!(text.contains("500 tasks cut short"), "{text}");
        assert!(text.contains("worker-0, worker-1"), "{text}");
        assert!(text.contains("and 1 more"), "{text}");
        assert!(text.contains("left running  worker-11"), "{text}");
        assert!(text.contains("and 488 more not named"), "{text}");
        assert!(text.contains("failed: disk full"), "{text}");
        assert!(text.contains("hurried by SIGTERM"), "{text}");
        assert!(text.lines().count() < 25, "{text}");
    }

    #[test]
    fn cut_connections_are_named_with_their_requests_and_make_the_exit_code_2() {
        let mut r = report();
        let line = |n: usize| RequestLine {
            method: "GET".into(),
            path: format!("/stuck?n={n}"),
        };
        let cut: Vec<CutConnection> = (0..12)
            .map(|n| CutConnection {
                peer: std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + n as u16)),
                upgraded: n == 2,
                stopped: n != 2,
                requests: if n == 1 {
                    vec![line(1), line(2)]
                } else {
                    vec![line(n)]
                },
            })
            .collect();
        r.connections = Some(ConnectionReport {
            at_trigger: ConnectionStats {
                connections: 14,
                in_flight: 13,
            },
            requests_finished: 1,
            connections_closed: 2,
            closed_reading_headers: 1,
            cut,
            cut_total: 150,
            requests_cut: 13,
            layer_requests_cut: 0,
            connections_seen: true,
        });
        assert_eq!(r.code(), EXIT_ABORTED);
        let text = r.to_string();
        assert!(
            text.contains("  connections   14 open, 13 requests in flight at the trigger; 1 requests finished, 2 connections closed, 150 cut (1 closed while still sending a request head)"),
            "{text}"
        );
        assert!(
            text.contains("    cut           127.0.0.1:40000 (GET /stuck?n=0), 127.0.0.1:40001 (GET /stuck?n=1, GET /stuck?n=2), 127.0.0.1:40002 (GET /stuck?n=2) upgraded, left running, "),
            "{text}"
        );
        assert!(text.contains(" and 2 more\n"), "{text}");
        assert!(text.contains("and 138 more not named"), "{text}");
        r.connections.as_mut().unwrap().cut_total = 0;
        r.connections.as_mut().unwrap().cut.clear();
        assert_eq!(r.code(), EXIT_OK);
        assert!(!r.to_string().contains("    cut "), "{}", r.to_string());
    }

    /// The line of the drain (and `tasks_aborted`, and the exit code) for what a grace deadline
    /// cut.
    fn drain_line(r: &ShutdownReport) -> String {
        let text = r.to_string();
        let line = text.lines().find(|line| line.starts_with("  drain  "));
        line.unwrap_or_default().to_owned()
    }

    #[test]
    fn the_drain_line_counts_everything_the_deadline_cut() {
        // A 60 s request under a 1 s grace: its connection is cut, no task of the list is.
        let mut r = report();
        r.timings.drain = Duration::from_millis(1001);
        r.connections = Some(ConnectionReport {
            at_trigger: ConnectionStats {
                connections: 1,
                in_flight: 1,
            },
            cut: vec![CutConnection {
                peer: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
                upgraded: false,
                stopped: true,
                requests: vec![RequestLine {
                    method: "GET".into(),
                    path: "/work?ms=60000".into(),
                }],
            }],
            cut_total: 1,
            requests_cut: 1,
            connections_seen: true,
            ..ConnectionReport::default()
        });
        assert_eq!(r.code(), EXIT_ABORTED);
        assert_eq!(r.tasks_aborted_total, 0);
        assert_eq!(
            drain_line(&r),
            "  drain         1.001s, 1 connection cut short"
        );

        r.tasks_aborted = vec![aborted("worker".into())];
        r.tasks_aborted_total = 1;
        assert_eq!(
            drain_line(&r),
            "  drain         1.001s, 1 task and 1 connection cut short"
        );
        r.main = Some(MainOutcome::Aborted);
        r.tasks_aborted_total = 2;
        assert_eq!(
            drain_line(&r),
            "  drain         1.001s, main, 2 tasks and 1 connection cut short"
        );

        // Requests of the in-flight layer alone (no connection seen): counted, exit code 2.
        let mut layer = report();
        layer.connections = Some(ConnectionReport {
            at_trigger: ConnectionStats {
                connections: 0,
                in_flight: 2,
            },
            requests_cut: 2,
            layer_requests_cut: 2,
            ..ConnectionReport::default()
        });
        assert_eq!(layer.code(), EXIT_ABORTED);
        assert_eq!(
            drain_line(&layer),
            "  drain         0ms, 2 requests cut short"
        );
        layer.main = Some(MainOutcome::Aborted);
        assert_eq!(
            drain_line(&layer),
            "  drain         0ms, main and 2 requests cut short"
        );

        // main alone, dropped at the deadline: exit code 2, and the drain line says why.
        let mut main_only = report();
        main_only.main = Some(MainOutcome::AbortedDropPanicked("guard".into()));
        assert_eq!(main_only.code(), EXIT_ABORTED);
        assert_eq!(
            drain_line(&main_only),
            "  drain         0ms, main cut short"
        );

        assert_eq!(report().code(), EXIT_OK);
        assert_eq!(
            drain_line(&report()),
            "  drain         0ms, nothing aborted"
        );
    }

    #[test]
    fn failures_are_grouped_and_the_summary_stays_short() {
        let mut r = report();
        for i in 0..40 {
            let mut f = failure(&format!("t{i}"), false);
            f.count = 1000;
            r.task_failures.push(f);
        }
        r.task_failures_other = 7;
        let text = r.to_string();
        assert!(
            text.contains("`t0` failed 1000 times; first: e; last: e"),
            "{text}"
        );
        assert!(text.contains("and 30007 more task failures"), "{text}");
        assert!(text.lines().count() < 25, "{text}");
    }
}
