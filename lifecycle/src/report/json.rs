//! The shutdown report as one JSON object (feature `serde`): a schema written out by hand, field by
//! field, so that renaming a Rust field cannot rename a JSON one. [`SCHEMA`] is raised when a
//! field changes meaning or goes away; adding a field does not raise it.

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::{MainOutcome, ShutdownReport, REPORT_WRITE};
use crate::failure::Failure;
use crate::hooks::{HookOutcome, HookReport};
use crate::log::{no_subscriber, quietly, to_stderr, to_stderr_at_once, whole_ms, write_within};
use crate::tasks::connections::ConnectionReport;
use crate::tasks::StageEnd;

/// The version of the JSON report's schema: the `"schema"` field.
pub(crate) const SCHEMA: u64 = 1;

impl ShutdownReport {
    /// The report as one JSON object on one line (no newline inside), for a log pipeline to
    /// alert on without parsing the text. Needs the crate's `serde` feature.
    ///
    /// The lifecycle prints this line instead of the text at the end when asked to:
    /// [`Config::with_report_format`](crate::Config::with_report_format)`(`[`ReportFormat::Json`](super::ReportFormat::Json)`)`,
    /// `#[lifecycle::main(report = "json")]` or `LIFECYCLE_REPORT_FORMAT=json`. The line goes
    /// where the text would: to standard error with no `tracing` subscriber, else as the message
    /// of the summary event.
    ///
    /// Field names are snake_case and stable; durations are whole milliseconds (`*_ms`); a
    /// failure is `{"error": <the error and its sources, as the text report writes them>,
    /// "panic": <bool>}`. Version 1 of the schema (the `"schema"` field; fields may be added
    /// without a new version):
    ///
    /// | field | value |
    /// |---|---|
    /// | `schema` | `1` |
    /// | `code` | the exit code ([`code`](Self::code)) |
    /// | `code_by_outcome` | the code without a requested one (differs from `code` only when one was requested) |
    /// | `trigger` | what started the shutdown, as the text report writes it (`"SIGTERM"`, `"main returned"`) |
    /// | `hurried_by` | the signal that cut the drain delay short (`"SIGTERM"`), or `null` |
    /// | `main` | `null` without a main future, else `{"outcome": "returned" \| "failed" \| "panicked" \| "aborted" \| "aborted_drop_panicked", "failure": failure or null}` |
    /// | `timings` | `{"start_ms", "drain_delay_ms", "drain_ms", "persist_ms", "hooks_ms", "total_ms"}` |
    /// | `start` | `{"failed": failure or null, "hooks": [hook]}` |
    /// | `hooks` | the persist then shutdown hooks, in run order: `[hook]` |
    /// | `tasks_cut` | the tasks aborted or left running: `[{"name", "kind": "async" \| "blocking", "stopped", "late"}]` (a scope's task is named by its path, `"scope/task"`) |
    /// | `tasks_cut_total` | how many in all (the list keeps the first 100) |
    /// | `task_failures` | `[{"task", "critical", "kept", "count", "first": failure, "last": failure}]` |
    /// | `task_failures_other` | failures whose task names did not fit in the list |
    /// | `task_failures_handled` | failures a scope kept and the app took by `join` |
    /// | `connections` | `null`, or `{"open_at_trigger", "in_flight_at_trigger", "requests_finished", "connections_closed", "closed_reading_headers", "cut_total", "requests_cut", "layer_requests_cut", "cut": [{"peer", "upgraded", "stopped", "requests": ["GET /path"]}]}` |
    /// | `stages` | `[{"stage": name or null (unstaged), "took_ms", "end": "drained" \| "deadline" \| "not_reached"}]` |
    /// | `restarts` | `[{"task", "restart", "backoff_ms", "failure": failure}]` |
    /// | `restarts_total` | how many restarts in all |
    /// | `reloads` | `{"count", "failures": [hook]}` |
    /// | `drop_panics` | `[{"hook", "message"}]` |
    ///
    /// A hook is `{"kind": "start" \| "persist" \| "shutdown" \| "reload", "name", "order",
    /// "outcome": "ok" \| "failed" \| "panicked" \| "timed_out" \| "lost" \| "not_run" \|
    /// "added_late" \| "interrupted", "panic": bool, "message": the outcome as the text report
    /// writes it, "duration_ms"}`.
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
    /// lc.manage(Hook::new(HookKind::Shutdown, "flush", || async { Err::<(), _>("disk full") }));
    /// let report = sequence.run_without_signals(async {}).await;
    ///
    /// let line = report.to_json();
    /// assert!(!line.contains('\n'));
    /// let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    /// assert_eq!(json["schema"], 1);
    /// assert_eq!(json["code"], 3);
    /// assert_eq!(json["trigger"], "main returned");
    /// assert_eq!(json["hooks"][0]["name"], "flush");
    /// assert_eq!(json["hooks"][0]["outcome"], "failed");
    /// assert_eq!(json["hooks"][0]["message"], "failed: disk full");
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        // serde_json escapes every control character in strings: no newline can get in.
        self.to_json_value().to_string()
    }

    /// The report as a [`serde_json::Value`], by the schema of [`to_json`](Self::to_json).
    fn to_json_value(&self) -> Value {
        let t = &self.timings;
        json!({
            "schema": SCHEMA,
            "code": self.code(),
            "code_by_outcome": self.code_by_outcome(),
            "trigger": self.trigger.to_string(),
            "hurried_by": self.hurried_by.map(|signal| signal.name()),
            "main": self.main.as_ref().map(main_outcome),
            "timings": {
                "start_ms": whole_ms(t.start),
                "drain_delay_ms": whole_ms(t.drain_delay),
                "drain_ms": whole_ms(t.drain),
                "persist_ms": whole_ms(t.persist),
                "hooks_ms": whole_ms(t.hooks),
                "total_ms": whole_ms(t.total),
            },
            "start": {
                "failed": self.start_failed.as_ref().map(failure),
                "hooks": self.start.iter().map(hook).collect::<Vec<_>>(),
            },
            "hooks": self.hooks.iter().map(hook).collect::<Vec<_>>(),
            "tasks_cut": self.tasks_aborted.iter().map(|task| json!({
                "name": task.name,
                "kind": task.kind.to_string(),
                "stopped": task.stopped,
                "late": task.late,
            })).collect::<Vec<_>>(),
            "tasks_cut_total": self.tasks_aborted_total,
            "task_failures": self.task_failures.iter().map(|failed| json!({
                "task": failed.task,
                "critical": failed.critical,
                "kept": failed.kept,
                "count": failed.count,
                "first": failure(&failed.first),
                "last": failure(&failed.last),
            })).collect::<Vec<_>>(),
            "task_failures_other": self.task_failures_other,
            "task_failures_handled": self.task_failures_handled,
            "connections": self.connections.as_ref().map(connections),
            "stages": self.stages.iter().map(|drain| json!({
                "stage": drain.stage.map(|stage| stage.to_string()),
                "took_ms": whole_ms(drain.took),
                "end": match drain.end {
                    StageEnd::Drained => "drained",
                    StageEnd::Deadline => "deadline",
                    StageEnd::NotReached => "not_reached",
                },
            })).collect::<Vec<_>>(),
            "restarts": self.restarts.iter().map(|restart| json!({
                "task": restart.task,
                "restart": restart.restart,
                "backoff_ms": whole_ms(restart.backoff),
                "failure": failure(&restart.error),
            })).collect::<Vec<_>>(),
            "restarts_total": self.restarts_total,
            "reloads": {
                "count": self.reloads,
                "failures": self.reload_failures.iter().map(hook).collect::<Vec<_>>(),
            },
            "drop_panics": self.drop_panics.iter().map(|dropped| json!({
                "hook": dropped.hook,
                "message": dropped.message,
            })).collect::<Vec<_>>(),
        })
    }

    /// [`log`](Self::log) for [`ReportFormat::Json`](super::ReportFormat::Json): the JSON line
    /// where the text would go, with the same one-second bound on a blocked standard error.
    pub(super) fn log_json(&self) {
        let line = self.to_json();
        if no_subscriber() && to_stderr_at_once(&line) {
            return;
        }
        let worrying =
            self.code() != crate::exit::EXIT_OK || self.code_by_outcome() != crate::exit::EXIT_OK;
        let emit = move || {
            quietly(|| {
                if no_subscriber() {
                    to_stderr(&line);
                } else if worrying {
                    tracing::warn!("{line}");
                } else {
                    tracing::info!("{line}");
                }
            });
        };
        let copy = emit.clone();
        if !write_within("lifecycle-report", REPORT_WRITE, copy) {
            emit();
        }
    }
}

/// Serializes as [`ShutdownReport::to_json`]'s object.
impl Serialize for ShutdownReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(serializer)
    }
}

/// Serializes as the JSON report's failure: `{"error": <the chain>, "panic": <bool>}`.
impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        failure(self).serialize(serializer)
    }
}

fn failure(failure: &Failure) -> Value {
    json!({ "error": format!("{failure:#}"), "panic": failure.is_panic() })
}

fn main_outcome(outcome: &MainOutcome) -> Value {
    let (name, failed) = match outcome {
        MainOutcome::Returned => ("returned", None),
        MainOutcome::Failed(error) => ("failed", Some(failure(error))),
        MainOutcome::Panicked(message) => (
            "panicked",
            Some(json!({ "error": format!("panicked: {message}"), "panic": true })),
        ),
        MainOutcome::Aborted => ("aborted", None),
        MainOutcome::AbortedDropPanicked(message) => (
            "aborted_drop_panicked",
            Some(json!({ "error": format!("panicked: {message}"), "panic": true })),
        ),
    };
    json!({ "outcome": name, "failure": failed })
}

fn hook(hook: &HookReport) -> Value {
    let outcome = hook.outcome.label();
    let panic = match &hook.outcome {
        HookOutcome::Failed(error) => error.is_panic(),
        HookOutcome::Panicked(_) => true,
        _ => false,
    };
    json!({
        "kind": hook.kind.as_str(),
        "name": hook.name,
        "order": hook.order,
        "outcome": outcome,
        "panic": panic,
        "message": hook.outcome.to_string(),
        "duration_ms": whole_ms(hook.duration),
    })
}

fn connections(report: &ConnectionReport) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    put("open_at_trigger", json!(report.at_trigger.connections));
    put("in_flight_at_trigger", json!(report.at_trigger.in_flight));
    put("requests_finished", json!(report.requests_finished));
    put("connections_closed", json!(report.connections_closed));
    put(
        "closed_reading_headers",
        json!(report.closed_reading_headers),
    );
    put("cut_total", json!(report.cut_total));
    put("requests_cut", json!(report.requests_cut));
    put("layer_requests_cut", json!(report.layer_requests_cut));
    let cut = report.cut.iter().map(|connection| {
        json!({
            "peer": connection.peer.to_string(),
            "upgraded": connection.upgraded,
            "stopped": connection.stopped,
            "requests": connection.requests.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    });
    put("cut", Value::Array(cut.collect()));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::signals::Signal;
    use crate::config::ReportFormat;
    use crate::hooks::HookKind;
    use crate::report::PhaseTimings;
    use crate::tasks::records::{AbortedTask, TaskFailure};
    use crate::tasks::TaskKind;
    use crate::triggers::Trigger;

    /// An error with a source, so that the chain has two links.
    #[derive(Debug)]
    struct Refused(std::io::Error);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("upstream refused")
        }
    }

    impl std::error::Error for Refused {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn hook(name: &str, kind: HookKind, order: i32, outcome: HookOutcome) -> HookReport {
        HookReport {
            name: name.into(),
            kind,
            order,
            outcome,
            duration: Duration::from_millis(12),
        }
    }

    /// A report with something in every list: a critical task's failure with a chain of two,
    /// a task of a nested scope cut at the deadline, hooks that failed and panicked.
    fn report() -> ShutdownReport {
        let chain = Failure::new(Refused(std::io::Error::other("connection reset")));
        ShutdownReport {
            trigger: Trigger::Signal(Signal::Terminate),
            main: Some(MainOutcome::Aborted),
            timings: PhaseTimings {
                start: Duration::from_millis(40),
                drain_delay: Duration::from_millis(5000),
                drain: Duration::from_millis(30_001),
                persist: Duration::from_millis(12),
                hooks: Duration::from_millis(24),
                total: Duration::from_micros(35_037_900),
            },
            tasks_aborted: vec![AbortedTask {
                name: "upstream/eu-1/reader".into(),
                kind: TaskKind::Async,
                stopped: true,
                late: false,
            }],
            tasks_aborted_total: 1,
            connections: None,
            task_failures: vec![TaskFailure {
                task: "upstream/eu-1/heartbeat".into(),
                critical: true,
                kept: false,
                count: 3,
                first: chain.clone(),
                last: chain,
            }],
            task_failures_other: 0,
            task_failures_handled: 2,
            hooks: vec![
                hook("flush", HookKind::Persist, 0, HookOutcome::Ok),
                hook(
                    "close db",
                    HookKind::Shutdown,
                    10,
                    HookOutcome::Failed(Failure::new("disk full")),
                ),
                hook(
                    "notify",
                    HookKind::Shutdown,
                    20,
                    HookOutcome::Panicked("line\nbreak".into()),
                ),
            ],
            hurried_by: None,
            start: vec![hook("connect", HookKind::Start, 0, HookOutcome::Ok)],
            start_failed: None,
            reloads: 4,
            reload_failures: Vec::new(),
            stages: Vec::new(),
            restarts: Vec::new(),
            restarts_total: 0,
            drop_panics: Vec::new(),
            format: ReportFormat::Json,
        }
    }

    #[test]
    fn the_json_line_says_what_the_text_report_says() {
        let report = report();
        let line = report.to_json();
        assert!(!line.contains('\n'), "{line}");
        let json: Value = serde_json::from_str(&line).expect("to_json is valid JSON");
        let text = report.to_string();

        assert_eq!(json["schema"], 1);
        // Exit 1 (a critical task failed), as the text's first line says.
        assert_eq!(json["code"], u64::from(report.code()));
        assert_eq!(json["code"], 1);
        assert!(text.contains("exit code 1)"), "{text}");
        assert_eq!(json["trigger"], report.trigger.to_string());
        assert!(text.contains("(trigger: SIGTERM;"), "{text}");
        assert_eq!(json["main"]["outcome"], "aborted");
        assert_eq!(json["timings"]["drain_ms"], 30_001);
        assert_eq!(json["timings"]["total_ms"], 35_037);

        let cut = &json["tasks_cut"][0];
        assert_eq!(cut["name"], "upstream/eu-1/reader");
        assert!(text.contains("upstream/eu-1/reader"), "{text}");
        assert_eq!(
            (cut["stopped"].as_bool(), cut["late"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(json["tasks_cut_total"], 1);

        let failed = &json["task_failures"][0];
        assert_eq!(failed["task"], "upstream/eu-1/heartbeat");
        assert_eq!(failed["critical"], true);
        assert_eq!(failed["count"], 3);
        assert_eq!(
            failed["first"]["error"],
            "upstream refused: connection reset"
        );
        assert_eq!(failed["first"]["panic"], false);
        assert!(
            text.contains("upstream refused: connection reset"),
            "{text}"
        );
        assert_eq!(json["task_failures_handled"], 2);

        let hooks: Vec<(&str, &str, i64, &str)> = json["hooks"]
            .as_array()
            .expect("hooks is a list")
            .iter()
            .map(|hook| {
                (
                    hook["kind"].as_str().unwrap_or_default(),
                    hook["name"].as_str().unwrap_or_default(),
                    hook["order"].as_i64().unwrap_or_default(),
                    hook["outcome"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            hooks,
            [
                ("persist", "flush", 0, "ok"),
                ("shutdown", "close db", 10, "failed"),
                ("shutdown", "notify", 20, "panicked"),
            ]
        );
        assert_eq!(json["hooks"][1]["message"], "failed: disk full");
        assert!(text.contains("failed: disk full"), "{text}");
        assert_eq!(json["hooks"][2]["panic"], true);
        assert_eq!(json["hooks"][2]["message"], "panicked: line\nbreak");
        assert_eq!(json["start"]["hooks"][0]["kind"], "start");
        assert_eq!(json["start"]["failed"], Value::Null);
        assert_eq!(json["reloads"]["count"], 4);
        assert_eq!(json["connections"], Value::Null);

        // `Serialize` gives the same object.
        assert_eq!(serde_json::to_value(&report).ok(), Some(json));
    }
}
