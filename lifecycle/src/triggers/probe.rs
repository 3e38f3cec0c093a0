//! What a readiness probe sees: the [`State`] and the last result of each readiness check,
//! together a [`Readiness`]. The checks themselves run in `checks/`; here is only what they
//! found, in one `watch` channel that the state's moves update too.
//!
//! The state alone still only moves forward (the drain's `was_ready`, the drain delay and the
//! report read it, unchanged); a failing check never moves it back. It only makes the
//! [`Readiness`] say "not ready" while the state says Ready.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use tokio::sync::watch;

use crate::triggers::readiness::State;

/// What a readiness probe answers from: where the service is in its life ([`State`]) and the
/// last result of each readiness check (see [`Lifecycle::check`](crate::Lifecycle::check)).
///
/// [`is_ready`](Readiness::is_ready) is the state being [`Ready`](State::Ready) **and** every
/// check passing. With no checks (the default) it is exactly
/// [`State::is_ready`](State::is_ready). Get one with
/// [`Lifecycle::readiness`](crate::Lifecycle::readiness), or watch its changes with
/// [`Lifecycle::watch_readiness`](crate::Lifecycle::watch_readiness).
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, Sequence, State};
///
/// let lc = Sequence::new(Config::new()).handle();
/// let readiness = lc.readiness();
/// assert_eq!(readiness.state(), State::Starting);
/// assert!(!readiness.is_ready());
/// assert!(readiness.checks().is_empty());
/// assert_eq!(readiness.to_string(), "not ready: starting");
/// lc.set_ready();
/// assert!(lc.readiness().is_ready());
/// assert_eq!(lc.readiness().to_string(), "ready");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    state: State,
    checks: Arc<[CheckStatus]>,
}

impl Readiness {
    /// Whether a readiness probe should succeed: the state is [`Ready`](State::Ready) and every
    /// check is [`Passing`](CheckState::Passing): its last run passed, or fewer runs than its
    /// failure threshold failed in a row since it passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert!(!lc.readiness().is_ready()); // starting
    /// ```
    pub fn is_ready(&self) -> bool {
        self.state.is_ready() && self.checks.iter().all(CheckStatus::is_passing)
    }

    /// Where the service is in its life; the checks never change it.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence, State};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.request_shutdown();
    /// assert_eq!(lc.readiness().state(), State::Draining);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// Each readiness check's last result, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("postgres").run(|| async { Ok::<_, std::io::Error>(()) });
    /// let readiness = lc.readiness();
    /// assert_eq!(readiness.checks()[0].name(), "postgres");
    /// assert_eq!(readiness.checks()[0].state(), CheckState::Pending); // runs once Ready
    /// # }
    /// ```
    pub fn checks(&self) -> &[CheckStatus] {
        &self.checks
    }

    /// Why a probe fails, or `None` when it succeeds: the state when it is not Ready
    /// (`starting`, `draining`), else the first failing check (`check postgres failed:
    /// connection refused`), else the first that has not run yet (`check postgres has not run
    /// yet`).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// assert_eq!(lc.readiness().reason().as_deref(), Some("starting"));
    /// lc.set_ready();
    /// assert_eq!(lc.readiness().reason(), None);
    /// ```
    pub fn reason(&self) -> Option<String> {
        if !self.state.is_ready() {
            return Some(self.state.as_str().to_owned());
        }
        if let Some(failing) = self.first_failing() {
            return Some(failing);
        }
        self.checks
            .iter()
            .find(|check| check.state == CheckState::Pending)
            .map(|check| format!("check {} has not run yet", check.name))
    }

    /// The first failing check, as `check <name> failed: <error>` (pending ones left out: what
    /// systemd's status shows while the service runs).
    pub(crate) fn first_failing(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|check| check.state == CheckState::Failing)
            .map(|check| {
                let error = check.last_error.as_deref().unwrap_or("failed");
                format!("check {} failed: {error}", check.name)
            })
    }

    /// The readiness as one JSON object on one line: whether ready, the state, the reason (or
    /// `null`), and each check's name, state, failed runs in a row and last error (or `null`). What
    /// `lifecycle::axum::ready` answers with (feature `axum`); strings are escaped, so a check's
    /// error may hold any character.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.set_ready();
    /// assert_eq!(
    ///     lc.readiness().to_json(),
    ///     r#"{"ready":true,"state":"ready","reason":null,"checks":[]}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + 64 * self.checks.len());
        let _ = write!(
            out,
            r#"{{"ready":{},"state":"{}","reason":"#,
            self.is_ready(),
            self.state.as_str()
        );
        json_string_or_null(&mut out, self.reason().as_deref());
        out.push_str(r#","checks":["#);
        for (i, check) in self.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"name":"#);
            json_string(&mut out, &check.name);
            let _ = write!(
                out,
                r#","state":"{}","failures":{},"last_error":"#,
                check.state.as_str(),
                check.failures
            );
            json_string_or_null(&mut out, check.last_error.as_deref());
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

impl fmt::Display for Readiness {
    /// `ready`, or `not ready: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            None => f.write_str("ready"),
            Some(reason) => write!(f, "not ready: {reason}"),
        }
    }
}

/// One readiness check's last result: its name, whether it counts as passing, how many runs in
/// a row failed, and the last error it returned (kept after it passes again, for the probe's
/// body).
///
/// # Examples
///
/// ```
/// use lifecycle::checks::CheckState;
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// lc.check("cache").run(|| async { Err::<(), _>("connection refused") });
/// lc.set_ready();
/// let mut readiness = lc.watch_readiness();
/// let readiness = readiness.wait_for(|r| r.checks()[0].state() != CheckState::Pending).await.unwrap();
/// let cache = &readiness.checks()[0];
/// assert_eq!(cache.state(), CheckState::Failing);
/// assert_eq!(cache.last_error(), Some("connection refused"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    name: Cow<'static, str>,
    state: CheckState,
    /// Runs failed in a row since the last pass: what the check's failure threshold counts.
    failures: u32,
    last_error: Option<String>,
}

impl CheckStatus {
    /// The name the check was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only") });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let now = readiness.wait_for(|r| r.checks()[0].state() != CheckState::Pending).await.unwrap();
    /// let disk = &now.checks()[0];
    /// assert_eq!(disk.name(), "disk");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it counts as passing, failing, or it has not run yet. With a failure threshold
    /// ([`Check::failures`](crate::checks::Check::failures)) a check that passed stays
    /// [`Passing`](CheckState::Passing) through fewer failed runs in a row than the threshold.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only") });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let now = readiness.wait_for(|r| r.checks()[0].state() != CheckState::Pending).await.unwrap();
    /// let disk = &now.checks()[0];
    /// assert_eq!(disk.state(), CheckState::Failing);
    /// # }
    /// ```
    pub fn state(&self) -> CheckState {
        self.state
    }

    /// Whether it counts as passing: its last run passed, or (with a failure threshold) fewer
    /// runs than the threshold failed in a row since it last passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only") });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let now = readiness.wait_for(|r| r.checks()[0].state() != CheckState::Pending).await.unwrap();
    /// let disk = &now.checks()[0];
    /// assert!(!disk.is_passing());
    /// # }
    /// ```
    pub fn is_passing(&self) -> bool {
        self.state == CheckState::Passing
    }

    /// How many of its runs failed in a row, up to the last one: 0 after a pass (and before
    /// the first run). The check counts as failing once this reaches its threshold
    /// ([`Check::failures`](crate::checks::Check::failures), default 1); before its first pass
    /// it is failing from the first failed run.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only") });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let now = readiness.wait_for(|r| r.checks()[0].failures() == 2).await.unwrap(); // 10 s later
    /// assert_eq!(now.checks()[0].state(), CheckState::Failing);
    /// # }
    /// ```
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The last error it returned (`timed out after 1s`, `panicked: ..` included), if it ever
    /// failed: still there after it passes again.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::checks::CheckState;
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// lc.check("disk").run(|| async { Err::<(), _>("read-only") });
    /// lc.set_ready();
    /// let mut readiness = lc.watch_readiness();
    /// let now = readiness.wait_for(|r| r.checks()[0].state() != CheckState::Pending).await.unwrap();
    /// let disk = &now.checks()[0];
    /// assert_eq!(disk.last_error(), Some("read-only"));
    /// # }
    /// ```
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// Where one readiness check stands.
///
/// # Examples
///
/// ```
/// use lifecycle::checks::CheckState;
///
/// assert_eq!(CheckState::Failing.as_str(), "failing");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckState {
    /// Not run yet: checks start once the service is Ready. Not passing: a probe fails until
    /// the first run passes.
    Pending,
    /// The last run passed, or (with a failure threshold) fewer runs than the threshold failed
    /// in a row since then: ready.
    Passing,
    /// Not passed yet and the last run failed, or as many runs as the threshold failed in a row
    /// (a run fails when it returns `Err`, panics or times out): not ready.
    Failing,
}

impl CheckState {
    /// The state's name in lower case, as in the probe's JSON body.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Passing => "passing",
            CheckState::Failing => "failing",
        }
    }
}

impl fmt::Display for CheckState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The readiness channel of one lifecycle: the state (kept up to date by
/// [`Readiness::advance`](crate::triggers::readiness::Readiness::advance)) and the checks' results.
pub(crate) struct Probe(watch::Sender<Readiness>);

/// A check's result recorded: where it stood before, and the readiness after.
pub(crate) struct Recorded {
    pub(crate) before: CheckState,
    pub(crate) after: Readiness,
}

impl Probe {
    pub(crate) fn new() -> Self {
        Self(watch::Sender::new(Readiness {
            state: State::Starting,
            checks: Arc::from(Vec::new()),
        }))
    }

    pub(crate) fn get(&self) -> Readiness {
        self.0.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Readiness> {
        self.0.subscribe()
    }

    /// The state moved (forward).
    pub(crate) fn set_state(&self, state: State) {
        self.0.send_if_modified(|readiness| {
            let moved = readiness.state != state;
            readiness.state = state;
            moved
        });
    }

    /// A new check, pending; returns its index for [`record`](Self::record).
    pub(crate) fn add(&self, name: Cow<'static, str>) -> usize {
        let mut index = 0;
        self.0.send_modify(|readiness| {
            let mut checks = readiness.checks.to_vec();
            index = checks.len();
            checks.push(CheckStatus {
                name,
                state: CheckState::Pending,
                failures: 0,
                last_error: None,
            });
            readiness.checks = Arc::from(checks);
        });
        index
    }

    /// Records check `index`'s run: `Ok` passed, `Err` holds why it failed. A check that has
    /// passed counts as failing only once `threshold` runs (at least 1) failed in a row; one
    /// that has not passed yet fails from its first failed run. Watchers hear of it only when
    /// something they can see changed (the verdict, the count of failures, a new error).
    pub(crate) fn record(
        &self,
        index: usize,
        result: Result<(), String>,
        threshold: u32,
    ) -> Recorded {
        let mut before = CheckState::Pending;
        self.0.send_if_modified(|readiness| {
            let Some(check) = readiness.checks.get(index) else {
                return false;
            };
            before = check.state;
            let (state, failures, last_error) = match result {
                Ok(()) => (CheckState::Passing, 0, check.last_error.clone()),
                Err(error) => {
                    let failures = check.failures.saturating_add(1);
                    let tolerated = check.state == CheckState::Passing && failures < threshold;
                    let state = if tolerated {
                        CheckState::Passing
                    } else {
                        CheckState::Failing
                    };
                    (state, failures, Some(error))
                }
            };
            if check.state == state && check.failures == failures && check.last_error == last_error
            {
                return false;
            }
            let mut checks = readiness.checks.to_vec();
            checks[index].state = state;
            checks[index].failures = failures;
            checks[index].last_error = last_error;
            readiness.checks = Arc::from(checks);
            true
        });
        Recorded {
            before,
            after: self.get(),
        }
    }
}

/// `"text"` with JSON's escapes, or `null`.
fn json_string_or_null(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.push_str("null"),
    }
}

/// `text` as a JSON string: quotes, backslashes and every control character escaped (RFC 8259,
/// section 7), the rest as is (the body is UTF-8).
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        json_string(&mut out, text);
        out
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_newlines_and_control_characters() {
        assert_eq!(escaped("plain"), r#""plain""#);
        assert_eq!(escaped(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(escaped(r"C:\dir"), r#""C:\\dir""#);
        assert_eq!(escaped("a\nb\r\tc"), r#""a\nb\r\tc""#);
        assert_eq!(
            escaped("\u{0}\u{1b}\u{1f}\u{7f}"),
            r#""\u0000\u001b\u001f\u007f""#
        );
        assert_eq!(escaped("é ✓ 🦀"), "\"é ✓ 🦀\"");
        assert_eq!(escaped(""), r#""""#);
    }

    #[test]
    fn the_json_body_names_each_check_and_its_last_error() {
        let probe = Probe::new();
        probe.set_state(State::Ready);
        let db = probe.add("postgres".into());
        let cache = probe.add(Cow::Owned("cache \"eu\"".to_owned()));
        probe.record(db, Ok(()), 1);
        probe.record(cache, Err("refused:\n\"no\"".to_owned()), 1);
        let readiness = probe.get();
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.to_json(),
            concat!(
                r#"{"ready":false,"state":"ready","reason":"check cache \"eu\" failed: refused:\n\"no\"","#,
                r#""checks":[{"name":"postgres","state":"passing","failures":0,"last_error":null},"#,
                r#"{"name":"cache \"eu\"","state":"failing","failures":1,"last_error":"refused:\n\"no\""}]}"#
            )
        );
        // Passing again: ready, the last error kept.
        let recorded = probe.record(cache, Ok(()), 1);
        assert_eq!(recorded.before, CheckState::Failing);
        assert!(recorded.after.is_ready());
        assert_eq!(
            recorded.after.checks()[1].last_error(),
            Some("refused:\n\"no\"")
        );
    }

    #[test]
    fn watchers_hear_only_of_visible_changes() {
        let probe = Probe::new();
        let mut seen = probe.subscribe();
        let db = probe.add("db".into());
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        probe.record(db, Err("down".to_owned()), 1);
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        probe.record(db, Err("down".to_owned()), 1);
        assert!(
            seen.has_changed().unwrap(),
            "the same failure again is news: one more in a row"
        );
        assert_eq!(seen.borrow_and_update().checks()[0].failures(), 2);
        probe.record(db, Err("still down".to_owned()), 1);
        assert!(seen.has_changed().unwrap(), "a new error is");
        seen.mark_unchanged();
        probe.record(db, Ok(()), 1);
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        probe.record(db, Ok(()), 1);
        assert!(
            !seen.has_changed().unwrap(),
            "a pass after a pass is no news"
        );
    }

    /// Failure threshold 3: a check that passed stays passing through two failed runs in a row
    /// and fails at the third; a pass resets the count. Before its first pass, one failed run
    /// is enough (the threshold keeps a replica that proved itself, it lets none in).
    #[test]
    fn checks_with_a_threshold_fail_after_that_many_failed_runs_in_a_row_once_they_passed() {
        let probe = Probe::new();
        probe.set_state(State::Ready);
        let db = probe.add("db".into());
        let state = |probe: &Probe| {
            let check = probe.get().checks()[0].clone();
            (check.state(), check.failures(), probe.get().is_ready())
        };
        probe.record(db, Err("refused".to_owned()), 3);
        assert_eq!(
            state(&probe),
            (CheckState::Failing, 1, false),
            "not passed yet"
        );
        probe.record(db, Ok(()), 3);
        assert_eq!(state(&probe), (CheckState::Passing, 0, true));
        probe.record(db, Err("refused".to_owned()), 3);
        assert_eq!(state(&probe), (CheckState::Passing, 1, true));
        probe.record(db, Err("refused".to_owned()), 3);
        assert_eq!(state(&probe), (CheckState::Passing, 2, true));
        assert_eq!(probe.get().reason(), None);
        probe.record(db, Ok(()), 3);
        assert_eq!(
            state(&probe),
            (CheckState::Passing, 0, true),
            "a pass resets"
        );
        for _ in 0..2 {
            probe.record(db, Err("refused".to_owned()), 3);
        }
        let third = probe.record(db, Err("timed out after 1s".to_owned()), 3);
        assert_eq!(third.before, CheckState::Passing);
        assert_eq!(state(&probe), (CheckState::Failing, 3, false));
        assert_eq!(
            third.after.reason().as_deref(),
            Some("check db failed: timed out after 1s")
        );
        probe.record(db, Err("refused".to_owned()), 3);
        assert_eq!(state(&probe), (CheckState::Failing, 4, false), "counted on");
        probe.record(db, Ok(()), 3);
        assert_eq!(state(&probe), (CheckState::Passing, 0, true));
    }

    #[test]
    fn the_reason_is_the_state_then_a_failing_check_then_a_pending_one() {
        let probe = Probe::new();
        let a = probe.add("a".into());
        let b = probe.add("b".into());
        assert_eq!(probe.get().reason().as_deref(), Some("starting"));
        probe.set_state(State::Ready);
        assert_eq!(
            probe.get().reason().as_deref(),
            Some("check a has not run yet")
        );
        probe.record(b, Err("x".to_owned()), 1);
        assert_eq!(probe.get().reason().as_deref(), Some("check b failed: x"));
        assert_eq!(
            probe.get().first_failing().as_deref(),
            Some("check b failed: x")
        );
        probe.record(a, Ok(()), 1);
        probe.record(b, Ok(()), 1);
        assert_eq!(probe.get().reason(), None);
        assert_eq!(probe.get().first_failing(), None);
        probe.set_state(State::Draining);
        assert_eq!(probe.get().to_string(), "not ready: draining");
    }
}
