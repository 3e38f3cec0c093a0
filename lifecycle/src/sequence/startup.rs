//! Why a service could not start, and how that is said and mapped to an exit code.

use std::fmt;
use std::process::ExitCode;

use crate::config::signals::SignalError;
use crate::config::ConfigError;
use crate::exit::{EXIT_CONFIG, EXIT_OS_ERROR};
use crate::failure::write_causes;
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
/// // The configuration error's message is in `{}`: it is not the source too (printed once).
/// assert!(std::error::Error::source(&err).is_none());
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

/// `{}`: what could not start, with the message of the error that stopped it; `{:#}`: that and
/// the error's causes, each once, joined by `: `. The error it holds is its variant's field, not
/// its [`source`](std::error::Error::source): its message is already in `{}`, so a printer that
/// walks the chain (anyhow's `{:#}`) shows it once; the source is that error's own cause.
impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self {
            StartupError::Config(err) => format!("configuration: {err}"),
            StartupError::Signals(err) => format!("signals: {err}"),
            StartupError::Runtime(err) => format!("could not build the Tokio runtime: {err}"),
        };
        f.write_str(&shown)?;
        if !f.alternate() {
            return Ok(());
        }
        write_causes(f, shown, std::error::Error::source(self))
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartupError::Config(err) => err.source(),
            StartupError::Signals(err) => err.source(),
            StartupError::Runtime(err) => err.source(),
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
        to_stderr(&format!("lifecycle: cannot start: {err:#}"));
    } else {
        crate::log::quietly(|| tracing::error!(error = %format_args!("{err:#}"), "cannot start"));
    }
    ExitCode::from(err.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    /// A cause with a cause of its own.
    #[derive(Debug)]
    struct NoThreads(std::io::Error);

    impl fmt::Display for NoThreads {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("no threads left")
        }
    }

    impl Error for NoThreads {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    /// What anyhow's `{:#}` prints: the message, then every `source()`, joined by `: `.
    fn walked(err: &dyn Error) -> String {
        let mut text = err.to_string();
        let mut cause = err.source();
        while let Some(error) = cause {
            text = format!("{text}: {error}");
            cause = error.source();
        }
        text
    }

    #[test]
    fn a_startup_error_prints_its_cause_once_when_its_chain_is_walked() {
        let limit = std::io::Error::other("limit of 512 reached");
        let err = StartupError::from(SignalError::Thread(std::io::Error::other(NoThreads(limit))));
        let message = "signals: could not start the thread that hears signals: no threads left";
        assert_eq!(err.to_string(), message);
        let chain = format!("{message}: limit of 512 reached");
        assert_eq!(walked(&err), chain);
        assert_eq!(format!("{err:#}"), chain);

        let err = StartupError::from(std::io::Error::other("out of memory"));
        let message = "could not build the Tokio runtime: out of memory";
        assert_eq!(err.to_string(), message);
        assert_eq!(walked(&err), message);
        assert_eq!(format!("{err:#}"), message);
    }
}
