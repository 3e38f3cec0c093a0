//! The shutdown report, built once: begun where start-up begins, carried by the typed steps of
//! the sequence (`Started`, `Triggered`, `Drained`, `Persisted`), each step writing what it
//! learned, and finished once by `shut_down`.
//!
//! What lives here: the one place a [`ShutdownReport`] is assembled. What does not: what the
//! report says (its text and exit code, in `report`), and how each step learns its part (the
//! sequence's steps). The builder takes plain report records, never a step's own types, so the
//! report knows nothing of the sequence that fills it. Each phase's duration is told the metrics
//! (feature `metrics`) here, as the report learns it.

use std::time::Duration;

use crate::config::signals::Signal;
use crate::failure::Failure;
use crate::hooks::{DropPanic, HookReport};
use crate::report::{MainOutcome, PhaseTimings, ShutdownReport};
use crate::tasks::connections::ConnectionReport;
use crate::tasks::run::Restarted;
use crate::tasks::stages::StageDrain;
use crate::tasks::{AbortedTask, TaskFailure, MAX_TASKS_NAMED};
use crate::triggers::Trigger;

/// A report being filled. Nobody reads it before [`finish`](Self::finish): the trigger, the
/// total and the cap on named tasks are settled there, once.
#[must_use = "a report being built must be finished by `shut_down`"]
pub(crate) struct ReportBuilder {
    /// The report so far. Its `trigger`, `timings.total`, `tasks_aborted_total` and
    /// `hurried_by` are placeholders until `finish`.
    report: ShutdownReport,
}

impl ReportBuilder {
    /// An empty report, at the start of start-up: nothing has happened yet.
    pub(crate) fn begin() -> Self {
        Self {
            report: ShutdownReport {
                trigger: Trigger::MainReturned,
                main: None,
                timings: PhaseTimings::default(),
                tasks_aborted: Vec::new(),
                tasks_aborted_total: 0,
                connections: None,
                task_failures: Vec::new(),
                task_failures_other: 0,
                task_failures_handled: 0,
                hooks: Vec::new(),
                hurried_by: None,
                start: Vec::new(),
                start_failed: None,
                reloads: 0,
                reload_failures: Vec::new(),
                stages: Vec::new(),
                restarts: Vec::new(),
                restarts_total: 0,
                drop_panics: Vec::new(),
                format: super::ReportFormat::Text,
            },
        }
    }

    /// The start phase: every start hook's run (the ones never run last), why start-up failed
    /// if it did, and how long it took.
    pub(crate) fn started(
        &mut self,
        hooks: Vec<HookReport>,
        failed: Option<Failure>,
        took: Duration,
    ) {
        self.report.start = hooks;
        self.report.start_failed = failed;
        self.report.timings.start = took;
        crate::metrics::phase_ended("start", took);
    }

    /// Whether start-up failed, as [`started`](Self::started) recorded it.
    pub(crate) fn start_failed(&self) -> bool {
        self.report.start_failed.is_some()
    }

    /// How `main` ended (`None`: the sequence ran without one).
    pub(crate) fn main_ended(&mut self, main: Option<MainOutcome>) {
        self.report.main = main;
    }

    /// The drain: its delay and its length, the tasks the grace deadline cut, the serve loop's
    /// connections and each stage's drain.
    pub(crate) fn drained(
        &mut self,
        delay: Duration,
        took: Duration,
        aborted: Vec<AbortedTask>,
        connections: Option<ConnectionReport>,
        stages: Vec<StageDrain>,
    ) {
        self.report.timings.drain_delay = delay;
        self.report.timings.drain = took;
        crate::metrics::phase_ended("drain_delay", delay);
        crate::metrics::phase_ended("drain", took);
        self.report.tasks_aborted = aborted;
        self.report.connections = connections;
        self.report.stages = stages;
    }

    /// The persist hooks' runs, and how long the phase took.
    pub(crate) fn persisted(&mut self, hooks: Vec<HookReport>, took: Duration) {
        self.report.hooks.extend(hooks);
        self.report.timings.persist = took;
        crate::metrics::phase_ended("persist", took);
    }

    /// The shutdown hooks' runs (after the persist hooks'), and how long the phase took.
    pub(crate) fn shutdown_hooks_ran(&mut self, hooks: Vec<HookReport>, took: Duration) {
        self.report.hooks.extend(hooks);
        self.report.timings.hooks = took;
        crate::metrics::phase_ended("hooks", took);
    }

    /// Tasks spawned after the drain and still running at the report: aborted then, listed
    /// after the ones the deadline cut.
    pub(crate) fn late_tasks(&mut self, aborted: Vec<AbortedTask>) {
        self.report.tasks_aborted.extend(aborted);
    }

    /// Start hooks added after the start boundary (none of them ran), listed after the others;
    /// and, when start-up had not failed already, the failure the first of them caused
    /// (`late_failure` is asked only then).
    pub(crate) fn added_late(
        &mut self,
        hooks: Vec<HookReport>,
        late_failure: impl FnOnce() -> Option<Failure>,
    ) {
        self.report.start.extend(hooks);
        if self.report.start_failed.is_none() {
            self.report.start_failed = late_failure();
        }
    }

    /// The tasks that failed (one entry per name), and how many failures did not fit.
    pub(crate) fn task_failures(&mut self, (listed, other, handled): (Vec<TaskFailure>, u64, u64)) {
        self.report.task_failures = listed;
        self.report.task_failures_other = other;
        self.report.task_failures_handled = handled;
    }

    /// How many reloads ran, and the reload hook runs that failed.
    pub(crate) fn reloads(&mut self, count: u64, failures: Vec<HookReport>) {
        self.report.reloads = count;
        self.report.reload_failures = failures;
    }

    /// The restarts of supervised parts listed, and how many there were in all.
    pub(crate) fn restarts(&mut self, (listed, total): (Vec<Restarted>, usize)) {
        self.report.restarts = listed;
        self.report.restarts_total = total;
    }

    /// Values held by hooks whose `Drop` panicked when the lifecycle let go of them.
    pub(crate) fn drop_panics(&mut self, panics: Vec<DropPanic>) {
        self.report.drop_panics = panics;
    }

    /// The finished report: what triggered the shutdown, the time from the trigger, the signal
    /// that hurried it, if one did. Keeps the first [`MAX_TASKS_NAMED`] aborted tasks and
    /// counts them all.
    pub(crate) fn finish(
        self,
        trigger: Trigger,
        total: Duration,
        hurried_by: Option<Signal>,
    ) -> ShutdownReport {
        let mut report = self.report;
        report.trigger = trigger;
        report.timings.total = total;
        report.hurried_by = hurried_by;
        report.tasks_aborted_total = report.tasks_aborted.len();
        report.tasks_aborted.truncate(MAX_TASKS_NAMED);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aborted(n: usize) -> AbortedTask {
        AbortedTask {
            name: format!("worker-{n}"),
            kind: crate::tasks::TaskKind::Async,
            stopped: true,
            late: false,
        }
    }

    #[test]
    fn the_late_tasks_count_with_the_cut_ones_and_the_cap_applies_to_all() {
        let mut report = ReportBuilder::begin();
        report.drained(
            Duration::ZERO,
            Duration::from_secs(1),
            (0..MAX_TASKS_NAMED).map(aborted).collect(),
            None,
            Vec::new(),
        );
        report.late_tasks(vec![aborted(MAX_TASKS_NAMED)]);
        let report = report.finish(Trigger::MainReturned, Duration::from_secs(2), None);
        assert_eq!(report.tasks_aborted_total, MAX_TASKS_NAMED + 1);
        assert_eq!(report.tasks_aborted.len(), MAX_TASKS_NAMED);
        assert_eq!(report.timings.total, Duration::from_secs(2));
    }

    #[test]
    fn a_late_start_hook_fails_start_up_only_when_nothing_failed_it_before() {
        let mut report = ReportBuilder::begin();
        report.started(Vec::new(), Some(Failure::new("first")), Duration::ZERO);
        report.added_late(Vec::new(), || Some(Failure::new("late")));
        let report = report.finish(Trigger::MainReturned, Duration::ZERO, None);
        assert_eq!(report.start_failed, Some(Failure::new("first")));

        let mut report = ReportBuilder::begin();
        report.started(Vec::new(), None, Duration::ZERO);
        report.added_late(Vec::new(), || Some(Failure::new("late")));
        let report = report.finish(Trigger::MainReturned, Duration::ZERO, None);
        assert_eq!(report.start_failed, Some(Failure::new("late")));
    }
}
