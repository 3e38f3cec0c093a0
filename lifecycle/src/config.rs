//! Shutdown settings and their `LIFECYCLE_*` environment overrides.

use std::fmt;
use std::time::Duration;

use crate::Signal;

/// The environment variable that overrides [`Config::grace`].
///
/// # Examples
///
/// ```
/// use std::ffi::OsString;
/// use std::time::Duration;
/// use lifecycle::{Config, Signal, ENV_GRACE, ENV_SIGNALS};
///
/// let env = [(ENV_GRACE, "45s"), (ENV_SIGNALS, "SIGTERM, hup")];
/// let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(*v));
/// let config = Config::new().apply_env_from(lookup)?;
/// assert_eq!(config.grace, Duration::from_secs(45));
/// assert_eq!(config.signals, [Signal::Terminate, Signal::Hangup]);
/// // Variables that are not set keep the value from the code.
/// assert_eq!(config.hook_timeout, Config::new().hook_timeout);
/// # Ok::<(), lifecycle::ConfigError>(())
/// ```
pub const ENV_GRACE: &str = "LIFECYCLE_GRACE";
/// The environment variable that overrides [`Config::drain_delay`]. See [`ENV_GRACE`] for an
/// example.
pub const ENV_DRAIN_DELAY: &str = "LIFECYCLE_DRAIN_DELAY";
/// The environment variable that overrides [`Config::hook_timeout`]. See [`ENV_GRACE`] for an
/// example.
pub const ENV_HOOK_TIMEOUT: &str = "LIFECYCLE_HOOK_TIMEOUT";
/// The environment variable that overrides [`Config::signals`] (a comma-separated list such as
/// `SIGTERM,SIGINT`). See [`ENV_GRACE`] for an example.
pub const ENV_SIGNALS: &str = "LIFECYCLE_SIGNALS";
/// The environment variable that overrides [`Config::force_on_second_signal`] (`true`/`false`,
/// `1`/`0`, `on`/`off`, `yes`/`no`). See [`ENV_GRACE`] for an example.
pub const ENV_FORCE_ON_SECOND_SIGNAL: &str = "LIFECYCLE_FORCE_ON_SECOND_SIGNAL";
/// The environment variable that overrides [`Config::repeat_window`] (`0s` turns it off). See
/// [`ENV_GRACE`] for an example.
pub const ENV_REPEAT_WINDOW: &str = "LIFECYCLE_REPEAT_WINDOW";
/// The environment variable that overrides [`Config::deadline_margin`]. See [`ENV_GRACE`] for an
/// example.
pub const ENV_DEADLINE_MARGIN: &str = "LIFECYCLE_DEADLINE_MARGIN";

/// How a service shuts down: deadlines, the signals that start it, and what a second signal does.
///
/// `Config` is a plain value built with chained setters. `#[lifecycle::main(..)]` writes one from
/// its arguments; code that calls [`run`](crate::run) builds one by hand. The fields are public
/// to read; set them with the methods of the same name.
///
/// | setting | default | environment override |
/// |---|---|---|
/// | [`grace`](Config::grace) | 30s | `LIFECYCLE_GRACE` |
/// | [`drain_delay`](Config::drain_delay) | 0s | `LIFECYCLE_DRAIN_DELAY` |
/// | [`hook_timeout`](Config::hook_timeout) | 5s | `LIFECYCLE_HOOK_TIMEOUT` |
/// | [`signals`](Config::signals) | SIGTERM, SIGINT, SIGQUIT | `LIFECYCLE_SIGNALS` |
/// | [`force_on_second_signal`](Config::force_on_second_signal) | on | `LIFECYCLE_FORCE_ON_SECOND_SIGNAL` |
/// | [`repeat_window`](Config::repeat_window) | 50ms | `LIFECYCLE_REPEAT_WINDOW` |
/// | [`deadline_margin`](Config::deadline_margin) | 1s | `LIFECYCLE_DEADLINE_MARGIN` |
///
/// Durations of any size are accepted: every deadline computed from them saturates (a grace of
/// `u64::MAX` seconds means "no deadline"), it never overflows.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lifecycle::{Config, Signal};
///
/// let config = Config::new()
///     .grace(Duration::from_secs(20))
///     .drain_delay(Duration::from_secs(5))
///     .signals([Signal::Terminate, Signal::Interrupt, Signal::Hangup]);
///
/// assert_eq!(config.grace, Duration::from_secs(20));
/// // No hooks yet: the worst case is the drain delay plus the grace period.
/// assert_eq!(config.worst_case_shutdown(Duration::ZERO), Duration::from_secs(25));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How long the drain may take: after the root token is cancelled, the main future and every
    /// tracked task get this long to finish before what is left is aborted.
    pub grace: Duration,
    /// How long readiness reports Draining before the root token is cancelled, so a load balancer
    /// can stop sending traffic while requests are still served.
    pub drain_delay: Duration,
    /// The timeout of every hook that does not set its own.
    pub hook_timeout: Duration,
    /// The signals that start a shutdown.
    pub signals: Vec<Signal>,
    /// Whether a signal that arrives while a shutdown is under way ends the process at once with
    /// exit code 128 + the signal number.
    pub force_on_second_signal: bool,
    /// A signal that repeats the previous one within this window is the same request delivered
    /// twice (a container runtime signalling the process group while a wrapping shell forwards
    /// the same signal), not a second signal. Zero counts every delivery.
    pub repeat_window: Duration,
    /// How far past the worst case ([`worst_case_shutdown`](Config::worst_case_shutdown)) the
    /// hard deadline lies: once the shutdown has run that long, a thread outside the Tokio
    /// runtime ends the process with [`EXIT_DEADLINE`](crate::EXIT_DEADLINE), whatever the app's
    /// tasks and hooks are doing to the runtime's workers.
    pub deadline_margin: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            drain_delay: Duration::ZERO,
            hook_timeout: Duration::from_secs(5),
            signals: vec![Signal::Terminate, Signal::Interrupt, Signal::Quit],
            force_on_second_signal: true,
            repeat_window: Duration::from_millis(50),
            deadline_margin: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// The default settings (see the table on [`Config`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Signal};
    ///
    /// let config = Config::new();
    /// assert_eq!(config.grace, Duration::from_secs(30));
    /// assert_eq!(config.drain_delay, Duration::ZERO);
    /// assert_eq!(config.hook_timeout, Duration::from_secs(5));
    /// assert_eq!(config.signals, [Signal::Terminate, Signal::Interrupt, Signal::Quit]);
    /// assert!(config.force_on_second_signal);
    /// assert_eq!(config, Config::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long the drain may take before stragglers are aborted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().grace(Duration::from_secs(10));
    /// assert_eq!(config.grace, Duration::from_secs(10));
    /// assert_eq!(config.worst_case_shutdown(Duration::ZERO), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets how long readiness reports Draining before the root token is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().drain_delay(Duration::from_secs(5));
    /// assert_eq!(config.drain_delay, Duration::from_secs(5));
    /// // The delay comes on top of the 30 s grace period.
    /// assert_eq!(config.worst_case_shutdown(Duration::ZERO), Duration::from_secs(35));
    /// ```
    #[must_use]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Sets the timeout of hooks that do not set their own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{Config, Hook, Lifecycle};
    ///
    /// let lc = Lifecycle::new(Config::new().hook_timeout(Duration::from_secs(2)));
    /// lc.add_hook(Hook::on_shutdown("uses the default", || async {}));
    /// let own = Hook::on_shutdown("sets its own", || async {}).timeout(Duration::from_secs(7));
    /// lc.add_hook(own.order(1));
    /// assert_eq!(lc.hook_budget(), Duration::from_secs(2 + 7));
    /// ```
    #[must_use]
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Sets the signals that start a shutdown; duplicates are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Signal};
    ///
    /// let config = Config::new().signals([Signal::Terminate, Signal::Hangup, Signal::Terminate]);
    /// // The defaults are replaced, and the duplicate is dropped.
    /// assert_eq!(config.signals, [Signal::Terminate, Signal::Hangup]);
    /// ```
    #[must_use]
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.signals.clear();
        for signal in signals {
            if !self.signals.contains(&signal) {
                self.signals.push(signal);
            }
        }
        self
    }

    /// Sets whether a second signal ends the process at once with 128 + the signal number.
    /// When off, a second signal only skips what is left of the drain delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Config;
    ///
    /// assert!(Config::new().force_on_second_signal);
    /// let config = Config::new().force_on_second_signal(false);
    /// assert!(!config.force_on_second_signal);
    /// ```
    #[must_use]
    pub fn force_on_second_signal(mut self, force: bool) -> Self {
        self.force_on_second_signal = force;
        self
    }

    /// Sets the window within which a repeat of the same signal counts as one delivery.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().repeat_window(Duration::ZERO); // count every delivery
    /// assert_eq!(config.repeat_window, Duration::ZERO);
    /// assert_eq!(lifecycle::Config::new().repeat_window, Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn repeat_window(mut self, window: Duration) -> Self {
        self.repeat_window = window;
        self
    }

    /// Sets how far past the worst case the hard deadline lies.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().deadline_margin(Duration::from_millis(200));
    /// assert_eq!(config.deadline_margin, Duration::from_millis(200));
    /// assert_eq!(
    ///     config.hard_deadline(Duration::from_secs(5)),
    ///     Duration::from_millis(35_200), // grace 30s + hooks 5s + margin
    /// );
    /// ```
    #[must_use]
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// The longest a shutdown can take with these settings: drain delay + grace + `hook_budget`.
    ///
    /// [`Lifecycle::worst_case_shutdown`](crate::Lifecycle::worst_case_shutdown) computes the
    /// hook budget from the hooks actually registered. Set Kubernetes'
    /// `terminationGracePeriodSeconds` above this figure, or the kubelet's SIGKILL cuts the
    /// shutdown short.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = lifecycle::Config::new().drain_delay(Duration::from_secs(5));
    /// let worst = config.worst_case_shutdown(Duration::from_secs(10));
    /// assert_eq!(worst, Duration::from_secs(5 + 30 + 10));
    /// ```
    pub fn worst_case_shutdown(&self, hook_budget: Duration) -> Duration {
        self.drain_delay
            .saturating_add(self.grace)
            .saturating_add(hook_budget)
    }

    /// How long after the trigger the process is ended whatever it is doing: the worst case plus
    /// [`deadline_margin`](Config::deadline_margin). Saturates instead of overflowing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().grace(Duration::from_secs(20)).drain_delay(Duration::from_secs(5));
    /// assert_eq!(config.hard_deadline(Duration::from_secs(5)), Duration::from_secs(31));
    /// // Absurd settings saturate rather than wrap.
    /// let forever = Config::new().grace(Duration::MAX);
    /// assert_eq!(forever.hard_deadline(Duration::from_secs(5)), Duration::MAX);
    /// ```
    pub fn hard_deadline(&self, hook_budget: Duration) -> Duration {
        self.worst_case_shutdown(hook_budget)
            .saturating_add(self.deadline_margin)
    }

    /// Applies the `LIFECYCLE_*` environment variables on top of these settings.
    ///
    /// A variable that is unset leaves its setting alone. A variable that is set but cannot be
    /// parsed is an error naming the variable and the value; the service should not start with a
    /// deadline it was not given. Durations are read by [`humantime`]: `30s`, `1m30s`, `250ms`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first variable that does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// # use lifecycle::Config;
    /// // With none of the variables set, nothing changes.
    /// let config = Config::new().apply_env()?;
    /// # let _ = config;
    /// # Ok::<(), lifecycle::ConfigError>(())
    /// ```
    pub fn apply_env(self) -> Result<Self, ConfigError> {
        self.apply_env_from(|name| std::env::var_os(name))
    }

    /// Like [`apply_env`](Config::apply_env), reading the variables through `lookup` instead of
    /// the process environment: for tests, or settings kept somewhere else.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first variable that does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::Config;
    ///
    /// let config = Config::new().apply_env_from(|name| match name {
    ///     "LIFECYCLE_GRACE" => Some("1m30s".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.grace, Duration::from_secs(90));
    ///
    /// let err = Config::new()
    ///     .apply_env_from(|name| (name == "LIFECYCLE_GRACE").then(|| "30x".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.variable(), "LIFECYCLE_GRACE");
    /// assert_eq!(err.value(), "30x");
    /// # Ok::<(), lifecycle::ConfigError>(())
    /// ```
    pub fn apply_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, ConfigError> {
        let read = |variable: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(variable) {
                None => Ok(None),
                Some(raw) => match raw.into_string() {
                    Ok(value) => Ok(Some(value)),
                    Err(raw) => Err(ConfigError::new(
                        variable,
                        raw.to_string_lossy().into_owned(),
                        "the value is not valid UTF-8",
                    )),
                },
            }
        };
        if let Some(value) = read(ENV_GRACE)? {
            self.grace = parse_duration(ENV_GRACE, &value, false)?;
        }
        if let Some(value) = read(ENV_DRAIN_DELAY)? {
            self.drain_delay = parse_duration(ENV_DRAIN_DELAY, &value, true)?;
        }
        if let Some(value) = read(ENV_HOOK_TIMEOUT)? {
            self.hook_timeout = parse_duration(ENV_HOOK_TIMEOUT, &value, false)?;
        }
        if let Some(value) = read(ENV_SIGNALS)? {
            self.signals = parse_signals(&value)?;
        }
        if let Some(value) = read(ENV_FORCE_ON_SECOND_SIGNAL)? {
            self.force_on_second_signal = parse_bool(ENV_FORCE_ON_SECOND_SIGNAL, &value)?;
        }
        if let Some(value) = read(ENV_REPEAT_WINDOW)? {
            self.repeat_window = parse_duration(ENV_REPEAT_WINDOW, &value, true)?;
        }
        if let Some(value) = read(ENV_DEADLINE_MARGIN)? {
            self.deadline_margin = parse_duration(ENV_DEADLINE_MARGIN, &value, true)?;
        }
        Ok(self)
    }
}

fn parse_duration(
    variable: &'static str,
    value: &str,
    zero_ok: bool,
) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(value.trim()).map_err(|err| {
        ConfigError::new(
            variable,
            value,
            format!("expected a duration such as `30s`, `500ms` or `1m30s` ({err})"),
        )
    })?;
    if duration.is_zero() && !zero_ok {
        return Err(ConfigError::new(
            variable,
            value,
            "the duration must be greater than zero",
        ));
    }
    Ok(duration)
}

fn parse_signals(value: &str) -> Result<Vec<Signal>, ConfigError> {
    let mut signals = Vec::new();
    for name in value.split(',').map(str::trim) {
        let signal: Signal = name.parse().map_err(|_| {
            ConfigError::new(
                ENV_SIGNALS,
                value,
                format!("unknown signal `{name}`: expected a comma-separated list of SIGTERM, SIGINT, SIGQUIT, SIGHUP"),
            )
        })?;
        if !signals.contains(&signal) {
            signals.push(signal);
        }
    }
    Ok(signals)
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected `true` or `false` (or 1/0, on/off, yes/no)",
        )),
    }
}

/// A `LIFECYCLE_*` environment variable that could not be used.
///
/// Its message names the variable, the value found and what would be accepted, for example:
/// `invalid LIFECYCLE_GRACE="30x": expected a duration such as `30s`, ...`.
///
/// # Examples
///
/// ```
/// use lifecycle::{Config, ENV_HOOK_TIMEOUT};
///
/// let err = Config::new()
///     .apply_env_from(|name| (name == ENV_HOOK_TIMEOUT).then(|| "soon".into()))
///     .unwrap_err();
/// let message = err.to_string();
/// assert!(message.starts_with(r#"invalid LIFECYCLE_HOOK_TIMEOUT="soon": expected a duration"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            variable,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// The name of the variable, such as `LIFECYCLE_GRACE`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, ENV_GRACE};
    ///
    /// // A zero grace period is refused (a zero drain delay is fine).
    /// let err = Config::new()
    ///     .apply_env_from(|name| (name == ENV_GRACE).then(|| "0s".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.variable(), ENV_GRACE);
    /// ```
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// The value that was found.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, ENV_SIGNALS};
    ///
    /// let err = Config::new()
    ///     .apply_env_from(|name| (name == ENV_SIGNALS).then(|| "SIGTERM,SIGKILL".into()))
    ///     .unwrap_err();
    /// // The whole value, not just the part that failed.
    /// assert_eq!(err.value(), "SIGTERM,SIGKILL");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: {}",
            self.variable, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn every_variable_overrides_its_setting() {
        let config = Config::new()
            .apply_env_from(env(&[
                (ENV_GRACE, "1m30s"),
                (ENV_DRAIN_DELAY, "0s"),
                (ENV_HOOK_TIMEOUT, "250ms"),
                (ENV_SIGNALS, "SIGTERM, hup"),
                (ENV_FORCE_ON_SECOND_SIGNAL, "off"),
            ]))
            .unwrap();
        assert_eq!(config.grace, Duration::from_secs(90));
        assert_eq!(config.drain_delay, Duration::ZERO);
        assert_eq!(config.hook_timeout, Duration::from_millis(250));
        assert_eq!(config.signals, vec![Signal::Terminate, Signal::Hangup]);
        assert!(!config.force_on_second_signal);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, &str, &str); 6] = [
            (&[(ENV_GRACE, "30x")], ENV_GRACE, "30x"),
            (&[(ENV_GRACE, "")], ENV_GRACE, ""),
            (&[(ENV_GRACE, "0s")], ENV_GRACE, "0s"),
            (&[(ENV_HOOK_TIMEOUT, "soon")], ENV_HOOK_TIMEOUT, "soon"),
            (
                &[(ENV_SIGNALS, "SIGTERM,SIGKILL")],
                ENV_SIGNALS,
                "SIGTERM,SIGKILL",
            ),
            (
                &[(ENV_FORCE_ON_SECOND_SIGNAL, "maybe")],
                ENV_FORCE_ON_SECOND_SIGNAL,
                "maybe",
            ),
        ];
        for (pairs, variable, value) in cases {
            let err = Config::new().apply_env_from(env(pairs)).unwrap_err();
            assert_eq!(err.variable(), variable);
            assert_eq!(err.value(), value);
            let message = err.to_string();
            assert!(message.contains(variable), "{message}");
        }
    }

    #[test]
    fn unset_variables_change_nothing() {
        assert_eq!(
            Config::new().apply_env_from(|_| None).unwrap(),
            Config::new()
        );
    }
}
