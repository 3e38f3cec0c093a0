//! The one-call entry: build the runtime, run the whole sequence, return the exit code.

use std::fmt;
use std::future::Future;
use std::process::ExitCode;

use crate::config::{Config, ConfigError, Flavor};
use crate::failure::Outcome;
use crate::handle::Lifecycle;
use crate::log::{no_subscriber, to_stderr};
use crate::report::{EXIT_CONFIG, EXIT_STARTUP_FAILED};
use crate::sequence::Sequence;
use crate::signal::SignalError;

/// Runs a service with graceful shutdown: what `#[lifecycle::main]` generates, as one call.
///
/// Applies the `LIFECYCLE_*` environment overrides to `config`, builds the Tokio runtime it
/// asks for ([`Config::flavor`], [`Config::worker_threads`]), then runs the
/// [`Sequence`] (see the crate docs): start, `main(lc)` until the trigger, drain, persist hooks,
/// shutdown hooks; the [`ShutdownReport`](crate::ShutdownReport) is logged and mapped to the
/// exit code. Blocking tasks still running at the end do not hold the process.
///
/// # Examples
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
///
/// fn main() -> ExitCode {
///     let config = lifecycle::Config::new().with_grace(Duration::from_secs(20));
///     lifecycle::run(config, |lc| async move {
///         let token = lc.token();
///         lc.spawn_named("ticker", async move {
///             while !token.is_cancelled() {
///                 tokio::select! {
///                     () = token.cancelled() => {}
///                     () = tokio::time::sleep(Duration::from_secs(1)) => println!("tick"),
///                 }
///             }
///         });
///         lc.cancelled().await; // serve until SIGTERM / Ctrl-C
///         Ok::<(), std::io::Error>(())
///     })
/// }
/// ```
pub fn run<F, Fut>(config: Config, main: F) -> ExitCode
where
    F: FnOnce(Lifecycle) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let config = match config.apply_env() {
        Ok(config) => config,
        Err(err) => return startup_failed(err),
    };
    let runtime = match runtime(&config) {
        Ok(runtime) => runtime,
        Err(err) => return startup_failed(err),
    };
    let code = runtime.block_on(async move {
        let sequence = Sequence::new(config);
        let lc = sequence.handle();
        let running = match sequence.start() {
            Ok(running) => running,
            Err(err) => return startup_failed(err),
        };
        let report = running
            .run_until_trigger(main(lc))
            .await
            .drain()
            .await
            .persist()
            .await
            .shut_down()
            .await;
        report.log();
        report.exit_code()
    });
    shutdown_runtime(runtime);
    code
}

/// Why a service could not start.
///
/// # Examples
///
/// ```
/// use lifecycle::config::ENV_GRACE;
/// use lifecycle::report::EXIT_CONFIG;
/// use lifecycle::{Config, StartupError};
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
    /// A `LIFECYCLE_*` variable is invalid (exit code 78).
    Config(ConfigError),
    /// The signal listener could not be installed (exit code 71).
    Signals(SignalError),
    /// The Tokio runtime could not be built (exit code 71).
    Runtime(std::io::Error),
}

impl StartupError {
    /// The exit code for this failure (see [`ShutdownReport`](crate::ShutdownReport)).
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::report::EXIT_STARTUP_FAILED;
    /// use lifecycle::signal::SignalError;
    /// use lifecycle::StartupError;
    ///
    /// let err = StartupError::from(SignalError::AlreadyInstalled);
    /// assert_eq!(err.code(), EXIT_STARTUP_FAILED); // 71, `EX_OSERR`
    /// ```
    pub fn code(&self) -> u8 {
        match self {
            StartupError::Config(_) => EXIT_CONFIG,
            StartupError::Signals(_) | StartupError::Runtime(_) => EXIT_STARTUP_FAILED,
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
/// use lifecycle::signal::SignalError;
///
/// // Logged (here to standard error: no subscriber), then mapped to the exit code.
/// let code = startup_failed(SignalError::NoRuntime);
/// assert_eq!(code, ExitCode::from(lifecycle::report::EXIT_STARTUP_FAILED));
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

/// Builds the runtime `config` asks for, with every driver enabled.
///
/// # Examples
///
/// ```
/// use lifecycle::config::Flavor;
/// use lifecycle::__private::runtime;
/// use lifecycle::Config;
///
/// let single = runtime(&Config::new().with_flavor(Flavor::CurrentThread))?;
/// assert_eq!(single.block_on(async { 1 + 1 }), 2);
/// let pool = runtime(&Config::new().with_worker_threads(2))?;
/// assert_eq!(pool.metrics().num_workers(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.flavor() {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    if let (Flavor::MultiThread, Some(threads)) = (config.flavor(), config.worker_threads()) {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

/// Shuts the runtime down without waiting for blocking tasks that are still running (a stuck
/// one is named in the report; it must not hold the process).
pub fn shutdown_runtime(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}
