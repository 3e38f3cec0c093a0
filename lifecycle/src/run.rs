//! The one-call entry: build the runtime, run the whole sequence, return the exit code.

use std::fmt;
use std::future::Future;
use std::process::ExitCode;

use crate::log::{no_subscriber, to_stderr};
use crate::report::{EXIT_CONFIG, EXIT_STARTUP_FAILED};
use crate::{Config, ConfigError, Lifecycle, MainResult, SignalError};

/// Runs a service with graceful shutdown: what `#[lifecycle::main]` generates, as one call.
///
/// Applies the `LIFECYCLE_*` environment overrides to `config`, builds a multi-threaded Tokio
/// runtime, then runs the sequence:
///
/// 0. a [`Lifecycle`]; free-function hooks registered; signal listeners installed; Ready;
/// 1. `main(lc)` runs until the trigger (a signal, `main` returning, [`Lifecycle::shutdown`], a
///    critical task failing);
/// 2. readiness Draining, then the drain delay (still serving);
/// 3. the root token is cancelled;
/// 4. the drain: `main` and every tracked task get the grace period; stragglers are aborted;
/// 5. persist hooks; 6. shutdown hooks by ascending order;
/// 7. the [`ShutdownReport`](crate::ShutdownReport) is logged and mapped to the exit code.
///
/// Blocking tasks still running at the end do not hold the process: the runtime is shut down
/// without waiting for them.
///
/// # Examples
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
///
/// fn main() -> ExitCode {
///     let config = lifecycle::Config::new().grace(Duration::from_secs(20));
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
    Fut::Output: MainResult,
{
    let config = match config.apply_env() {
        Ok(config) => config,
        Err(err) => return startup_failed(err),
    };
    let runtime = match runtime(Flavor::MultiThread, None) {
        Ok(runtime) => runtime,
        Err(err) => return startup_failed(err),
    };
    let code = runtime.block_on(async move {
        let lc = Lifecycle::new(config);
        lc.register_free_hooks();
        if let Err(err) = lc.listen_for_signals() {
            return startup_failed(err);
        }
        let report = lc.run(main(lc.clone())).await;
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
/// use lifecycle::{Config, StartupError, ENV_GRACE, EXIT_CONFIG};
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
    /// use lifecycle::{SignalError, StartupError, EXIT_STARTUP_FAILED};
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
/// use lifecycle::SignalError;
///
/// // Logged (here to standard error: no subscriber), then mapped to the exit code.
/// let code = startup_failed(SignalError::NoRuntime);
/// assert_eq!(code, ExitCode::from(lifecycle::EXIT_STARTUP_FAILED));
/// ```
pub fn startup_failed(err: impl Into<StartupError>) -> ExitCode {
    let err = err.into();
    if no_subscriber() {
        to_stderr(&format!("lifecycle: cannot start: {err}"));
    } else {
        tracing::error!(error = %err, "cannot start");
    }
    ExitCode::from(err.code())
}

/// The Tokio runtime flavour `#[lifecycle::main(flavor = ..)]` asks for.
///
/// # Examples
///
/// ```
/// use lifecycle::__private::{runtime, Flavor};
///
/// let single = runtime(Flavor::CurrentThread, None)?;
/// assert_eq!(single.block_on(async { 1 + 1 }), 2);
/// // `worker_threads = 0` is raised to one worker.
/// let pool = runtime(Flavor::MultiThread, Some(0))?;
/// assert_eq!(pool.metrics().num_workers(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// One thread: `flavor = "current_thread"`.
    CurrentThread,
    /// A worker pool: `flavor = "multi_thread"` (the default).
    MultiThread,
}

/// Builds the runtime with every driver enabled (signals need the I/O driver).
///
/// # Examples
///
/// ```
/// // What `#[lifecycle::main(grace = "20s", flavor = "current_thread")]` expands to, minus
/// // `lc.listen_for_signals()` (left out so this example does not take over Ctrl-C).
/// use std::process::ExitCode;
/// use lifecycle::__private::{runtime, shutdown_runtime, startup_failed, Flavor};
///
/// fn main() -> ExitCode {
///     let config = lifecycle::Config::new().grace(std::time::Duration::from_secs(20));
///     let config = match config.apply_env() {
///         Ok(config) => config,
///         Err(err) => return startup_failed(err),
///     };
///     let rt = match runtime(Flavor::CurrentThread, None) {
///         Ok(rt) => rt,
///         Err(err) => return startup_failed(err),
///     };
///     let code = rt.block_on(async move {
///         let lc = lifecycle::Lifecycle::new(config);
///         lc.register_free_hooks();
///         lc.run(async { /* the body of `main(lc)` */ }).await.exit_code()
///     });
///     shutdown_runtime(rt);
///     assert_eq!(code, ExitCode::SUCCESS);
///     code
/// }
/// ```
pub fn runtime(
    flavor: Flavor,
    worker_threads: Option<usize>,
) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    if let (Flavor::MultiThread, Some(threads)) = (flavor, worker_threads) {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

/// Shuts the runtime down without waiting for blocking tasks, so a stuck `spawn_blocking` cannot
/// keep the process alive past the deadline.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use lifecycle::__private::{runtime, shutdown_runtime, Flavor};
///
/// let rt = runtime(Flavor::CurrentThread, None)?;
/// let (_never, rx) = std::sync::mpsc::channel::<()>();
/// rt.spawn_blocking(move || rx.recv()); // stuck until the end of the process
/// let started = Instant::now();
/// shutdown_runtime(rt); // does not wait for it
/// assert!(started.elapsed() < Duration::from_secs(1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn shutdown_runtime(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}
