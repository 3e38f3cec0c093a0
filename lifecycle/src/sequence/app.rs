//! [`App`]: a service's main function together with its settings, declared once and run two
//! ways: as the process (`App::run`, from `fn main`) and in a test (`lifecycle::testing`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use crate::config::Config;
use crate::failure::{into_result, Failure, Outcome};
use crate::handle::Lifecycle;
use crate::sequence::entry::run_held;
use crate::triggers::held::hold_signals;

/// The main future, boxed: its output is `main`'s outcome, reduced to the failure if any.
pub(crate) type MainFuture = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;
/// The main function, boxed.
pub(crate) type MainFn = Box<dyn FnOnce(Lifecycle) -> MainFuture + Send>;

/// A service: its main function and its [`Config`], declared once, run by `fn main` as the
/// process and by a test in-process.
///
/// `#[lifecycle::main(...)]` on an `async fn` **not** named `main` makes one: the attribute
/// turns `pub async fn app(lc: Lifecycle, settings: Settings) -> R` into
/// `pub fn app(settings: Settings) -> App`, holding the attribute's settings. The binary's
/// `main` runs it, and a test starts it with the test harness (`lifecycle::testing::start`,
/// feature `testing`) with the same settings and the same free hooks:
///
/// ```no_run
/// // src/lib.rs
/// use lifecycle::Lifecycle;
///
/// #[lifecycle::main(grace = "20s", drain_delay = "5s")]
/// pub async fn app(lc: Lifecycle, port: u16) -> std::io::Result<()> {
///     let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
///     // ... serve on `listener` until `lc.cancelled()`
/// #   drop(listener);
///     lc.cancelled().await;
///     Ok(())
/// }
///
/// // src/main.rs
/// fn main() -> std::process::ExitCode {
///     app(3000).run()
/// }
/// ```
///
/// Its main future must be `Send` (a test runs it as a task); `#[lifecycle::main]` on
/// `async fn main` has no such bound.
#[must_use = "an app does nothing until it is run"]
pub struct App {
    config: Config,
    main: MainFn,
    init: Option<fn()>,
}

impl App {
    /// An app running `main` with `config`: what `#[lifecycle::main]` on a function not named
    /// `main` writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifecycle::{App, Config};
    ///
    /// let app = App::new(Config::new().with_grace(Duration::from_secs(5)), |lc| async move {
    ///     lc.cancelled().await;
    /// });
    /// assert_eq!(app.config().grace(), Duration::from_secs(5));
    /// ```
    pub fn new<F, Fut>(config: Config, main: F) -> Self
    where
        F: FnOnce(Lifecycle) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        let main: MainFn = Box::new(move |lc| Box::pin(async move { into_result(main(lc).await) }));
        Self {
            config,
            main,
            init: None,
        }
    }

    /// Runs `init` first in [`run`](Self::run), once the signals are held and before the
    /// runtime starts: the attribute's `init = path` (a logging subscriber, say). The test
    /// harness does not run it: a test process sets up its own logging.
    ///
    /// # Examples
    ///
    /// ```
    /// fn init_logging() {}
    /// let app = lifecycle::App::new(lifecycle::Config::new(), |_lc| async {}).with_init(init_logging);
    /// # drop(app);
    /// ```
    pub fn with_init(mut self, init: fn()) -> Self {
        self.init = Some(init);
        self
    }

    /// The settings the app runs with (the attribute's; the `LIFECYCLE_*` environment variables
    /// are applied by [`run`](Self::run), not here).
    ///
    /// # Examples
    ///
    /// ```
    /// let app = lifecycle::App::new(lifecycle::Config::new(), |_lc| async {});
    /// assert_eq!(app.config(), &lifecycle::Config::new());
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The same app with its settings changed by `change`: a test that wants a shorter
    /// grace, say.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let app = lifecycle::App::new(lifecycle::Config::new(), |_lc| async {})
    ///     .with_config(|config| config.with_grace(Duration::from_secs(1)));
    /// assert_eq!(app.config().grace(), Duration::from_secs(1));
    /// ```
    pub fn with_config(mut self, change: impl FnOnce(Config) -> Config) -> Self {
        self.config = change(self.config);
        self
    }

    /// Runs the app as the process: what `#[lifecycle::main]` writes for `async fn main`. Holds
    /// the shutdown signals first (call it first thing in `main`, before anything starts a
    /// thread), runs the `init` function if any, applies the `LIFECYCLE_*` environment
    /// overrides, builds the runtime the config asks for and runs the whole
    /// [`Sequence`](crate::Sequence); returns the report's exit code (see
    /// [`run`](fn@crate::run)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// fn main() -> std::process::ExitCode {
    ///     lifecycle::App::new(lifecycle::Config::new(), |lc| async move { lc.cancelled().await })
    ///         .run()
    /// }
    /// ```
    pub fn run(self) -> ExitCode {
        let signals = hold_signals();
        if let Some(init) = self.init {
            init();
        }
        run_held(signals, self.config, self.main)
    }

    /// The settings and the main function, for the test harness.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (Config, MainFn) {
        (self.config, self.main)
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("init", &self.init.is_some())
            .finish_non_exhaustive()
    }
}
