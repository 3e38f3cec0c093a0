//! The one table of settings: for each, its `#[lifecycle::main]` key, the `LIFECYCLE_*`
//! variable that overrides it, its default, whether zero is accepted, and one line of doc.
//!
//! The environment overrides ([`Config::apply_env_from`]) and the zero checks of
//! [`Config::validate`] read this table, so each rule is written once at run time. The macro
//! crate cannot depend on this one: `tests/tests/settings.rs` checks the macro's keys, its zero
//! rules and the README's table of settings against [`SETTINGS`], through
//! `lifecycle::__private::settings()`.
//!
//! What does not live here: the setters and getters of [`Config`] (in `config`), the parsing of
//! a value (`parse_duration`, `parse_signals`, `parse_bool`, in `config`), and the checks that
//! involve two settings (`worker_threads` with `flavor`, in `validate`).

use std::time::Duration;

use super::{
    parse_bool, parse_duration, parse_report_format, parse_signals, Config, ConfigError,
    ENV_DEADLINE_MARGIN, ENV_DRAIN_DELAY, ENV_FORCE_ON_SECOND_SIGNAL, ENV_GRACE, ENV_HOOK_TIMEOUT,
    ENV_REPEAT_WINDOW, ENV_REPORT_FORMAT, ENV_SIGNALS, ENV_STARTUP_TIMEOUT, ENV_UPGRADE_TIMEOUT,
};

/// Whether zero is a value a duration or count setting accepts.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    /// `drain_delay = "0s"`: no delay.
    Allowed,
    /// `grace = "0s"`: the step would be useless; refused.
    Rejected,
}

/// One setting of the table. Not a public API: read by the sequence and by the workspace's
/// tests.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Setting {
    /// The key of `#[lifecycle::main]`, also the name [`Config::validate`]'s errors give.
    pub key: &'static str,
    /// The environment variable that overrides the setting, if one does.
    pub variable: Option<&'static str>,
    /// The default, written as the README's table writes it.
    pub default: &'static str,
    /// One line saying what the setting does.
    pub doc: &'static str,
    /// What the value is, and how the table reads and checks it.
    value: Value,
}

/// What a setting's value is: how a variable is read into [`Config`], and how
/// [`Config::validate`] finds a zero.
#[derive(Clone, Copy)]
enum Value {
    /// A duration.
    Duration {
        get: fn(&Config) -> Duration,
        set: fn(&mut Config, Duration),
        zero: Zero,
    },
    /// A count with no variable (`worker_threads`).
    Count {
        get: fn(&Config) -> Option<usize>,
        zero: Zero,
    },
    /// A list of signals (`SIGTERM,SIGHUP`).
    Signals,
    /// On or off.
    Switch { set: fn(&mut Config, bool) },
    /// The report's format (`text`, `json`).
    ReportFormat,
    /// Set in the code or by the attribute only: `ready`, `flavor`, and `init` (not a setting of
    /// [`Config`] at all: a function the generated `main` calls first).
    InCode,
}

impl Setting {
    /// For a duration or a count: whether zero is accepted.
    pub fn zero(&self) -> Option<Zero> {
        match self.value {
            Value::Duration { zero, .. } | Value::Count { zero, .. } => Some(zero),
            Value::Signals | Value::Switch { .. } | Value::ReportFormat | Value::InCode => None,
        }
    }

    /// Reads `value`, the value of the setting's `variable`, into `config`.
    fn apply(
        &self,
        config: &mut Config,
        variable: &'static str,
        value: &str,
    ) -> Result<(), ConfigError> {
        match self.value {
            Value::Duration { set, zero, .. } => {
                set(
                    config,
                    parse_duration(variable, value, zero == Zero::Allowed)?,
                );
            }
            Value::Signals => config.signals = parse_signals(value)?,
            Value::Switch { set } => set(config, parse_bool(variable, value)?),
            Value::ReportFormat => config.report_format = parse_report_format(variable, value)?,
            // No variable names these (the table's test says so).
            Value::Count { .. } | Value::InCode => {}
        }
        Ok(())
    }

    /// `Err` when the setting refuses zero and `config` has it.
    fn check_zero(&self, config: &Config) -> Result<(), ConfigError> {
        let zero = match self.value {
            Value::Duration { get, zero, .. } => (get(config).is_zero(), zero, "0s"),
            Value::Count { get, zero } => (get(config) == Some(0), zero, "0"),
            Value::Signals | Value::Switch { .. } | Value::ReportFormat | Value::InCode => {
                return Ok(())
            }
        };
        match zero {
            (true, Zero::Rejected, written) => Err(ConfigError::new(
                self.key,
                written,
                "must be greater than zero",
            )),
            _ => Ok(()),
        }
    }
}

/// The default of `upgrade_timeout`, derived from two other settings (see
/// [`Config::upgrade_timeout`]).
const UPGRADE_TIMEOUT_DEFAULT: &str = "startup_timeout + deadline_margin + 5s";

/// Every setting, in the order the variables are read and the zero checks run (the first bad
/// one is the error).
pub(crate) const SETTINGS: &[Setting] = &[
    Setting {
        key: "grace",
        variable: Some(ENV_GRACE),
        default: "30s",
        doc: "how long main and the tracked tasks get to finish after the cancel",
        value: Value::Duration {
            get: Config::grace,
            set: |config, value| config.grace = value,
            zero: Zero::Rejected,
        },
    },
    Setting {
        key: "drain_delay",
        variable: Some(ENV_DRAIN_DELAY),
        default: "0s",
        doc: "how long the service goes on serving, Draining, before the cancel",
        value: Value::Duration {
            get: Config::drain_delay,
            set: |config, value| config.drain_delay = value,
            zero: Zero::Allowed,
        },
    },
    Setting {
        key: "hook_timeout",
        variable: Some(ENV_HOOK_TIMEOUT),
        default: "5s",
        doc: "the limit of a hook that sets none of its own",
        value: Value::Duration {
            get: Config::hook_timeout,
            set: |config, value| config.hook_timeout = value,
            zero: Zero::Rejected,
        },
    },
    Setting {
        key: "signals",
        variable: Some(ENV_SIGNALS),
        default: "[SIGTERM, SIGINT, SIGQUIT]",
        doc: "the signals that trigger the shutdown",
        value: Value::Signals,
    },
    Setting {
        key: "force_on_second_signal",
        variable: Some(ENV_FORCE_ON_SECOND_SIGNAL),
        default: "true",
        doc: "whether a second signal during the shutdown exits at once",
        value: Value::Switch {
            set: |config, value| config.force_on_second_signal = value,
        },
    },
    Setting {
        key: "repeat_window",
        variable: Some(ENV_REPEAT_WINDOW),
        default: "50ms",
        doc: "deliveries of a signal this close together count as one",
        value: Value::Duration {
            get: Config::repeat_window,
            set: |config, value| config.repeat_window = value,
            zero: Zero::Allowed,
        },
    },
    Setting {
        key: "startup_timeout",
        variable: Some(ENV_STARTUP_TIMEOUT),
        default: "60s",
        doc: "the limit of the whole start phase",
        value: Value::Duration {
            get: Config::startup_timeout,
            set: |config, value| config.startup_timeout = value,
            zero: Zero::Rejected,
        },
    },
    Setting {
        key: "deadline_margin",
        variable: Some(ENV_DEADLINE_MARGIN),
        default: "1s",
        doc: "how far past the worst case the hard deadline ends the process",
        value: Value::Duration {
            get: Config::deadline_margin,
            set: |config, value| config.deadline_margin = value,
            zero: Zero::Allowed,
        },
    },
    Setting {
        key: "upgrade_timeout",
        variable: Some(ENV_UPGRADE_TIMEOUT),
        default: UPGRADE_TIMEOUT_DEFAULT,
        doc:
            "how long an in-place upgrade waits for the new process to be Ready before rolling back",
        value: Value::Duration {
            get: Config::upgrade_timeout,
            set: |config, value| config.upgrade_timeout = Some(value),
            zero: Zero::Rejected,
        },
    },
    Setting {
        key: "report",
        variable: Some(ENV_REPORT_FORMAT),
        default: "\"text\"",
        doc: "how the shutdown report is printed: lines of text, or (\"json\") one JSON line",
        value: Value::ReportFormat,
    },
    Setting {
        key: "ready",
        variable: None,
        default: "\"auto\"",
        doc:
            "Ready once the start hooks succeeded, or (\"manual\") also once main called set_ready",
        value: Value::InCode,
    },
    Setting {
        key: "flavor",
        variable: None,
        default: "\"multi_thread\"",
        doc: "the Tokio runtime built: a pool of workers, or (\"current_thread\") one thread",
        value: Value::InCode,
    },
    Setting {
        key: "worker_threads",
        variable: None,
        default: "one per core",
        doc: "how many workers the multi-thread runtime has",
        value: Value::Count {
            get: Config::worker_threads,
            zero: Zero::Rejected,
        },
    },
    Setting {
        key: "init",
        variable: None,
        default: "none",
        doc: "a fn() the generated main calls first, before the config is read",
        value: Value::InCode,
    },
];

/// Reads every variable of the table that `read` finds into `config`, in the table's order.
pub(crate) fn apply_env(
    config: &mut Config,
    read: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<(), ConfigError> {
    for setting in SETTINGS {
        let Some(variable) = setting.variable else {
            continue;
        };
        if let Some(value) = read(variable)? {
            setting.apply(config, variable, &value)?;
        }
    }
    Ok(())
}

/// The first setting of the table that refuses zero and has it in `config`.
pub(crate) fn check_zeros(config: &Config) -> Result<(), ConfigError> {
    SETTINGS
        .iter()
        .try_for_each(|setting| setting.check_zero(config))
}

/// The variables the table reads, in its order.
pub(crate) fn variables() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter_map(|setting| setting.variable)
}

/// The table, for the workspace's tests (`lifecycle::__private::settings()`).
pub fn settings() -> &'static [Setting] {
    SETTINGS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults the table writes are the ones [`Config::default`] has.
    #[test]
    fn the_defaults_written_are_the_configs_defaults() {
        let config = Config::default();
        for setting in SETTINGS {
            match setting.value {
                Value::Duration { get, .. } if setting.default == UPGRADE_TIMEOUT_DEFAULT => {
                    let derived = config.startup_timeout() + config.deadline_margin();
                    assert_eq!(get(&config), derived + Duration::from_secs(5));
                }
                Value::Duration { get, .. } => {
                    let written = humantime::parse_duration(setting.default);
                    assert_eq!(written.ok(), Some(get(&config)), "{}", setting.key);
                }
                Value::Signals => {
                    let written = setting.default.trim_matches(['[', ']']);
                    assert_eq!(
                        parse_signals(written).ok().as_deref(),
                        Some(config.signals())
                    );
                }
                Value::Switch { .. } => {
                    let written = parse_bool(ENV_FORCE_ON_SECOND_SIGNAL, setting.default);
                    assert_eq!(written.ok(), Some(config.force_on_second_signal()));
                }
                Value::Count { get, .. } => assert_eq!(get(&config), None, "{}", setting.key),
                Value::ReportFormat => {
                    let written = setting.default.trim_matches('"');
                    let format = parse_report_format(ENV_REPORT_FORMAT, written);
                    assert_eq!(format.ok(), Some(config.report_format()));
                }
                Value::InCode => {}
            }
        }
    }

    /// A variable names a setting the table can read from text.
    #[test]
    fn every_variable_is_read_and_every_key_is_once_in_the_table() {
        for setting in SETTINGS {
            let readable = !matches!(setting.value, Value::Count { .. } | Value::InCode);
            assert_eq!(setting.variable.is_some(), readable, "{}", setting.key);
            assert!(!setting.doc.contains('\n'), "{}", setting.key);
            let same = SETTINGS.iter().filter(|other| other.key == setting.key);
            assert_eq!(same.count(), 1, "{}", setting.key);
        }
    }

    /// `json` is read with the `serde` feature; without it, start-up is refused with a message
    /// naming the variable and the feature.
    #[test]
    fn a_json_report_is_read_with_the_serde_feature_and_refused_without_it() {
        use super::super::ReportFormat;
        let read =
            Config::new().apply_env_from(|name| (name == ENV_REPORT_FORMAT).then(|| "JSON".into()));
        let in_code = Config::new()
            .with_report_format(ReportFormat::Json)
            .validate();
        if cfg!(feature = "serde") {
            assert_eq!(read.map(|c| c.report_format()), Ok(ReportFormat::Json));
            assert_eq!(in_code, Ok(()));
        } else {
            let message = read.map(|_| ()).unwrap_err().to_string();
            assert!(
                message.starts_with("invalid LIFECYCLE_REPORT_FORMAT=\"JSON\": the JSON report needs the `serde` feature of lifecycle"),
                "{message}"
            );
            let message = in_code.unwrap_err().to_string();
            assert!(
                message.starts_with(
                    "invalid report=\"json\": the JSON report needs the `serde` feature"
                ),
                "{message}"
            );
        }
        let typo =
            Config::new().apply_env_from(|name| (name == ENV_REPORT_FORMAT).then(|| "jsno".into()));
        let message = typo.map(|_| ()).unwrap_err().to_string();
        assert!(message.contains("expected `text`"), "{message}");
    }
}
