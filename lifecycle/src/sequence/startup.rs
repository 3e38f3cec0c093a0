//! Why a service could not start, and how that is said and mapped to an exit code.

use std::fmt;
use std::process::ExitCode;

use crate::config::signals::SignalError;
use crate::config::ConfigError;
use crate::exit::{EXIT_CONFIG, EXIT_OS_ERROR};
use crate::log::{no_subscriber, to_stderr};

/// Why a service could not start.
///
/// # Examples
///
/// ```
/// use lifecycle::config::ENV_GRACE;
/// use lifecycle::exit::EXIT_CONFIG;
/// use lifecycle::sequence::StartupError;
/// use lifecycle::Config;
///
/// let err = Config::new()
///     .apply_env_from(|name| (name == ENV_GRACE).then(|| "soon".into()))
///     .unwrap_err();
/// let err = StartupError::from(err);
/// assert_eq!(err.code(), EXIT_CONFIG);
/// assert!(err.to_string().starts_with("configuration: invalid LIFECYCLE_GRACE"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// A `LIFECYCLE_*` variable is invalid (exit code 78,
    /// [`EXIT_CONFIG`](crate::exit::EXIT_CONFIG)).
    Config(ConfigError),
    /// The signal listener could not be installed (exit code 71,
    /// [`EXIT_OS_ERROR`](crate::exit::EXIT_OS_ERROR)).
    Signals(SignalError),
    /// The Tokio runtime could not be built (exit code 71,
    /// [`EXIT_OS_ERROR`](crate::exit::EXIT_OS_ERROR)).
    Runtime(std::io::Error),
}

impl StartupError {
    /// The exit code for this failure (see [`ShutdownReport`](crate::ShutdownReport)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::exit::EXIT_OS_ERROR;
    /// use lifecycle::config::SignalError;
    /// use lifecycle::sequence::StartupError;
    ///
    /// let err = StartupError::from(SignalError::AlreadyInstalled);
    /// assert_eq!(err.code(), EXIT_OS_ERROR); // 71, `EX_OSERR`
    /// ```
    pub fn code(&self) -> u8 {
        match self {
            StartupError::Config(_) => EXIT_CONFIG,
            StartupError::Signals(_) | StartupError::Runtime(_) => EXIT_OS_ERROR,
        }
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Config(err) => write!(f, "configuration: {err}"),
            StartupError::Signals(err) => write!(f, "signals: {err}"),
            StartupError::Runtime(err) => write!(f, "could not build the Tokio runtime: {err}"),
        }
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartupError::Config(err) => Some(err),
            StartupError::Signals(err) => Some(err),
            StartupError::Runtime(err) => Some(err),
        }
    }
}

impl From<ConfigError> for StartupError {
    fn from(err: ConfigError) -> Self {
        StartupError::Config(err)
    }
}

impl From<SignalError> for StartupError {
    fn from(err: SignalError) -> Self {
        StartupError::Signals(err)
    }
}

impl From<std::io::Error> for StartupError {
    fn from(err: std::io::Error) -> Self {
        StartupError::Runtime(err)
    }
}

/// Logs why the service could not start (to standard error when no `tracing` subscriber is
/// installed) and returns its exit code.
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
/// use lifecycle::__private::startup_failed;
/// use lifecycle::config::SignalError;
///
/// // Logged (here to standard error: no subscriber), then mapped to the exit code.
/// let code = startup_failed(SignalError::NoRuntime);
/// assert_eq!(code, ExitCode::from(lifecycle::exit::EXIT_OS_ERROR));
/// ```
pub fn startup_failed(err: impl Into<StartupError>) -> ExitCode {
    let err = err.into();
    if no_subscriber() {
        to_stderr(&format!("lifecycle: cannot start: {err}"));
    } else {
        crate::log::quietly(|| tracing::error!(error = %err, "cannot start"));
    }
    ExitCode::from(err.code())
}
