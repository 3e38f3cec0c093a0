//! Attribute macros for the [`lifecycle`] crate. Use them through `lifecycle`
//! (`#[lifecycle::main]`, `#[lifecycle::component]`, `#[lifecycle::on_start]`,
//! `#[lifecycle::on_reload]`, `#[lifecycle::on_shutdown]`, `#[lifecycle::persist]`,
//! `#[lifecycle::run]`), not from this crate directly: the generated code calls into
//! `::lifecycle::__private`, which only the matching `lifecycle` version provides.
//!
//! Every argument is checked while compiling: durations such as `"30s"`, `"1m30s"` or
//! `"250ms"`, unknown or repeated keys, literal types, and hook signatures. Each mistake is a
//! compile error on the offending token that says what is allowed; all of them are reported in
//! one build, and the annotated item is still emitted so that no follow-up errors appear.
//!
//! This crate is the `proc_macro` boundary only: each attribute is a one-line shim into the
//! `lifecycle-macros-impl` library, which parses, validates and expands at the `proc_macro2`
//! level (one module per attribute).
//!
//! The expansion is plain code, one runtime call a step. The `examples/expanded/` folder of the
//! repository holds the expansion of every example, kept current by a test.
//!
//! Every example on these pages is a doctest of this crate, compiled against `lifecycle` (a
//! dev-dependency) by `cargo test`, the "equivalent code" included: a page cannot drift from
//! what the attributes accept and generate. Links to `lifecycle`'s items are relative
//! (`../lifecycle/...`), for these pages as `lifecycle`'s documentation shows them.
//!
//! [`lifecycle`]: https://docs.rs/lifecycle

use proc_macro::TokenStream;

/// Runs an `async fn main` inside the graceful-shutdown sequence: signals, drain, persist hooks,
/// ordered shutdown hooks, and an exit code from the shutdown report.
///
/// ```no_run
/// # #[derive(Debug)]
/// # struct AppError;
/// # impl std::fmt::Display for AppError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("app") }
/// # }
/// # impl std::error::Error for AppError {}
/// # async fn worker(token: lifecycle::CancellationToken) { token.cancelled().await }
/// # async fn serve(shutdown: impl std::future::Future<Output = ()>) -> Result<(), AppError> {
/// #     shutdown.await;
/// #     Ok(())
/// # }
/// #[lifecycle::main(grace = "30s", drain_delay = "5s")]
/// async fn main(lc: lifecycle::Lifecycle) -> Result<(), AppError> {
///     lc.spawn(worker(lc.token()));
///     serve(lc.cancelled()).await
/// }
/// ```
///
/// # Arguments
///
/// Every key is optional; a key left out keeps the runtime's default. At start-up the
/// environment overrides the code: each key that has a variable is overridden by `LIFECYCLE_`
/// and the key in capitals (`grace` by `LIFECYCLE_GRACE`, `drain_delay` by
/// `LIFECYCLE_DRAIN_DELAY`, and so on to `startup_timeout`; `report` by
/// `LIFECYCLE_REPORT_FORMAT`); `flavor`, `worker_threads`, `init` and `ready` have none. The values each variable accepts are in the table on
/// [`lifecycle::Config`](../lifecycle/struct.Config.html); a bad one stops start-up with exit
/// code 78, naming it.
///
/// A `LIFECYCLE_*` variable the crate does not read (`LIFECYCLE_GRAEC=5s`) is a warning on
/// standard error naming the one it most likely meant (`did you mean LIFECYCLE_GRACE?`), written
/// before anything else, and the service starts without it: a variable meant for a newer
/// version, or another tool, must not stop it.
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `grace` | how long the drain waits for the main body and tracked tasks, `"30s"` | `"30s"` |
/// | `drain_delay` | how long to keep serving after readiness flips to draining, `"5s"`; skipped when `main` has already returned (its serving is over, so the wait would only hold the exit back) and when the service was never Ready | `"0s"` |
/// | `hook_timeout` | the limit of a hook that sets no `timeout` of its own, `"5s"` | `"5s"` |
/// | `signals` | which signals trigger shutdown: `[SIGTERM, SIGINT, SIGQUIT, SIGHUP]` | `[SIGTERM, SIGINT, SIGQUIT]` |
/// | `force_on_second_signal` | exit at once with 128 + the signal number on a second signal | `true` |
/// | `flavor` | `"multi_thread"` or `"current_thread"` | `"multi_thread"` |
/// | `worker_threads` | worker threads of the `multi_thread` runtime | one per CPU |
/// | `repeat_window` | a repeat of the same signal within this window counts once, `"50ms"`; `"0s"` counts every delivery | `"50ms"` |
/// | `deadline_margin` | how far past the worst case the hard deadline lies, `"1s"`; `"0s"` allowed | `"1s"` |
/// | `init` | a `fn()` called first (once the shutdown signals are held), before the configuration, the runtime and every lifecycle event, `init = setup_logging` | none |
/// | `startup_timeout` | the longest the start phase may take (`main` up to its start boundary, the start hooks, and the wait for `set_ready`), `"60s"` | `"60s"` |
/// | `ready` | `"auto"`: Ready once every start hook succeeded; `"manual"`: once they succeeded *and* the app called `lc.set_ready()` | `"auto"` |
/// | `report` | how the shutdown report is printed: `"text"`, or `"json"` for one JSON line (needs `lifecycle`'s `serde` feature); its variable is `LIFECYCLE_REPORT_FORMAT` | `"text"` |
/// | `upgrade_timeout` | how long an in-place upgrade (SIGUSR2, `lc.request_upgrade()`) waits for the new process to be Ready before it rolls back, `"70s"` | `startup_timeout` + `deadline_margin` + 5 s |
///
/// Durations are strings with a unit: `"30s"`, `"250ms"`, `"1m30s"`. A bare number is a compile
/// error that offers both readings (`"1000ms"` and `"1000s"`).
///
/// The function may take one parameter, the `lifecycle::Lifecycle` by value (it receives a
/// clone: the handle is cheap to clone), and may return `()` or a `Result<(), E>` with an
/// error type that converts into `Box<dyn std::error::Error + Send + Sync>` (see the
/// [`component`](macro@component) page for which do). A wrong return type is one error, at the
/// type.
///
/// # Installing logging first: `init`
///
/// The sequence logs from its first step ("ready" once the signals are installed), so a log
/// subscriber installed in the body comes too late. Name a function with `init`: it runs before
/// anything else but the holding of the signals, even before the `LIFECYCLE_*` environment
/// variables are read.
///
/// ```no_run
/// fn setup_logging() {
///     // tracing_subscriber::fmt().init();
/// }
///
/// #[lifecycle::main(grace = "30s", init = setup_logging)]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.cancelled().await;
/// }
/// ```
///
/// The function must be a `fn()`: it takes nothing and returns nothing (handle its errors
/// inside, or panic, which ends the program before anything starts).
///
/// `init` runs with the shutdown signals held (see below): a SIGTERM that comes during it waits
/// until the listeners are installed and then starts the shutdown, before any start hook runs.
/// Keep it short: while it runs, SIGTERM does not end the process (SIGKILL still does).
///
/// # On another function: an `App` that `main` runs and tests start
///
/// On an `async fn` not named `main`, the attribute writes a function of the same name that
/// returns a `lifecycle::App`: the same settings, the same sequence, not run yet. Its
/// parameters are the function's after the `Lifecycle` (owned values: they are kept until the
/// app runs). Declare the service once in the crate's `lib.rs`; the binary runs it with
/// `App::run`, and a test starts it in-process with `lifecycle::testing::start` (feature
/// `testing`), with the attribute's settings and the binary's free hooks:
///
/// ```
/// use lifecycle::Lifecycle;
///
/// pub struct Settings {
///     pub port: u16,
/// }
///
/// /// In `src/lib.rs`: `pub fn app(settings: Settings) -> lifecycle::App`.
/// #[lifecycle::main(grace = "20s")]
/// pub async fn app(lc: Lifecycle, settings: Settings) -> std::io::Result<()> {
///     let address = std::net::SocketAddr::from(([127, 0, 0, 1], settings.port));
///     // bind `address` and serve on it until `lc.cancelled()` ...
/// #   drop(address);
///     lc.cancelled().await;
///     Ok(())
/// }
///
/// // In `src/main.rs`: `fn main() -> ExitCode { app(Settings { port: 3000 }).run() }`.
/// # fn main() {
/// let app = app(Settings { port: 0 });
/// assert_eq!(app.config().grace(), std::time::Duration::from_secs(20));
/// # }
/// ```
///
/// `App::run` does what the generated `main` does (below), `init` included; the harness runs
/// neither `init` nor the `LIFECYCLE_*` overrides. The app's future must be `Send`: a test runs
/// it as a task.
///
/// # Signals in the first milliseconds
///
/// The generated `main` first blocks SIGTERM, SIGINT, SIGQUIT and SIGHUP, before anything can
/// start a thread (every thread inherits the mask), and `Sequence::start` unblocks them once the
/// listeners are installed. A signal that comes in between waits, and is then heard as any first
/// signal: from the first statement of `main`, a SIGTERM is a graceful shutdown, never the
/// operating system's default. If the process ends before the listeners are installed (a bad
/// `LIFECYCLE_*` variable, `LIFECYCLE_PRINT_BUDGET=1`, the listeners failing, `init`
/// panicking), it exits with that exit code, and a line on stderr names the signal that came.
/// A child process started with `std::process::Command` or `tokio::process::Command` starts
/// with no signal blocked (the standard library resets the mask). Before `main` begins (while
/// the operating system loads the program) nothing can hold a signal: its default applies.
///
/// # Equivalent code without the macro
///
/// The first example, with `init = setup_logging` added to the attribute (the `__private`
/// items are the generated code's, not an API):
///
/// ```no_run
/// # #[derive(Debug)]
/// # struct AppError;
/// # impl std::fmt::Display for AppError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("app") }
/// # }
/// # impl std::error::Error for AppError {}
/// # async fn worker(token: lifecycle::CancellationToken) { token.cancelled().await }
/// # async fn serve(shutdown: impl std::future::Future<Output = ()>) -> Result<(), AppError> {
/// #     shutdown.await;
/// #     Ok(())
/// # }
/// # fn setup_logging() {}
/// use std::time::Duration;
///
/// fn main() -> std::process::ExitCode {
///     // First, before any thread exists: SIGTERM, SIGINT, SIGQUIT and SIGHUP are held until
///     // `start` has installed the listeners (then a signal that came meanwhile is heard).
///     let signals = lifecycle::__private::hold_signals();
///     async fn __lifecycle_main(lc: lifecycle::Lifecycle) -> Result<(), AppError> {
///         lc.spawn(worker(lc.token()));
///         serve(lc.cancelled()).await
///     }
///     // The declared return type, checked once (one error at the type if it is not an
///     // outcome): the steps below see only a future whose output is an `Outcome`.
///     fn __lifecycle_checked(lc: lifecycle::Lifecycle) -> impl lifecycle::__private::MainFuture {
///         __lifecycle_main(lc)
///     }
///     let init: fn() = setup_logging;                 // only with `init = ...`, first after the hold
///     init();
///     let config = lifecycle::Config::new()
///         .with_grace(Duration::from_secs(30))
///         .with_drain_delay(Duration::from_secs(5));
///     // The sequence, one step a line; a start-up error leaves through `?`.
///     let run = |config| async move {
///         let sequence = lifecycle::Sequence::new(config);
///         let lc = sequence.handle();
///         let running = sequence.start()?;            // free hooks, signals (released), watchdog thread
///         let started = running.run_start_hooks(__lifecycle_checked(lc.clone())).await; // Ready
///         let triggered = started.run_until_trigger().await; // signal, main returned, a request
///         let drained = triggered.drain().await;      // until every task is done, or grace
///         let persisted = drained.persist().await;    // persist hooks
///         let report = persisted.shut_down().await;   // shutdown hooks by ascending order
///         report.log();
///         Ok(report.exit_code())
///     };
///     // With the `LIFECYCLE_*` overrides applied (exit 78 naming a bad one): prints the budget
///     // and exits 0 if `LIFECYCLE_PRINT_BUDGET=1`, builds the runtime, runs `run` on it, shuts
///     // the runtime down without waiting for stuck blocking tasks; a start-up error is logged
///     // and becomes exit 78 or 71 (naming a signal that came while the signals were held).
///     lifecycle::__private::block_on(signals, config.apply_env(), run)
/// }
/// ```
///
/// Without the attributes, `lifecycle::run(config, |lc| async move { .. })` does all of this
/// in one call.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::main(args.into(), item.into()).into()
}

/// Makes the `#[on_start]`, `#[on_reload]`, `#[persist]` and `#[on_shutdown]` methods of an
/// inherent impl block the hooks of each value handed to `Lifecycle::manage`, its `#[run]`
/// method its long-running part, and its `#[check]` methods its readiness checks.
///
/// ```no_run
/// use std::sync::Arc;
/// use lifecycle::CancellationToken;
///
/// struct Db {/* a pool */}
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_start(order = 10, timeout = "10s")]
///     async fn connect(&self) -> std::io::Result<()> { Ok(()) }
///
///     #[on_reload]
///     fn reread_pool_size(&self) -> Result<(), String> { Ok(()) }
///
///     #[run(restart = "on-failure", max_restarts = 3)]
///     async fn keep_alive(&self, token: CancellationToken) { token.cancelled().await }
///
///     #[persist(every = "10s")]
///     fn save_offsets(&self) -> std::io::Result<()> { Ok(()) }
///
///     #[on_shutdown(order = 100, timeout = "5s")]
///     async fn close(&self) {}
/// }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.manage(Arc::new(Db {}));
///     if !lc.started().await {
///         return; // a start hook failed: the shutdown is under way
///     }
///     lc.cancelled().await;
/// }
/// ```
///
/// A hook method takes `&self` and nothing else, may be `async` or not (a non-async hook runs on
/// Tokio's blocking pool), and returns nothing, `()` or a `Result<(), E>`. Inside the impl the
/// attributes may be written bare (`#[on_shutdown]`) or qualified
/// (`#[lifecycle::on_shutdown]`); their arguments are those of [`macro@on_start`],
/// [`macro@on_reload`], [`macro@persist`], [`macro@on_shutdown`] and [`macro@run`] (whose page
/// describes the long-running part). The hook's name in the report defaults to its path,
/// `my_app::db::Db::close`.
///
/// # Which error types
///
/// The error `E` of a hook, a `#[run]` method, a tracked task or `main` must convert into
/// `Box<dyn std::error::Error + Send + Sync>`, so that the report can print it with its
/// `source()` chain: any `std::error::Error + Send + Sync + 'static` type (`std::io::Error`,
/// a `thiserror` type), `String`, `&str`, `Box<dyn std::error::Error + Send + Sync>`,
/// `anyhow::Error`, `eyre::Report`. `Display` alone is not enough, nor is `Debug`, nor `()`;
/// the compiler says so, naming the type and the fix (implement `std::error::Error`, or map
/// the error into a `String`):
///
/// ```compile_fail,E0277
/// use std::fmt;
///
/// #[derive(Debug)]
/// struct CloseError;
///
/// impl fmt::Display for CloseError {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("the pool would not close")
///     }
/// }
///
/// struct Db;
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_shutdown]
///     async fn close(&self) -> Result<(), CloseError> { // Display, but not std::error::Error
///         Err(CloseError)
///     }
/// }
/// # fn main() {}
/// ```
///
/// With `impl std::error::Error for CloseError {}` added, it compiles.
///
/// # Equivalent code without the macro
///
/// The hooks are listed once, in `add_hooks`, and that one list serves twice: bound to each
/// managed value (`hooks`), and bound to none for the budget `LIFECYCLE_PRINT_BUDGET=1` prints
/// before start-up. Each method is passed as a function (`Self::close`); each hook holds its own
/// clone of the value's `Arc`. Names are given below the module: `"Db::close"` is reported as
/// `my_app::db::Db::close`. For a component with `#[on_shutdown(order = 100, timeout = "5s")]`
/// on `close` and `#[persist(every = "10s")]` on `save_offsets` (the `__private` items are the
/// generated code's, not an API):
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::hooks::HookKind;
///
/// struct Db;
///
/// impl Db {
///     async fn close(&self) -> std::io::Result<()> { Ok(()) }
///     fn save_offsets(&self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// impl lifecycle::Component for Db {
///     fn hooks(self: Arc<Self>) -> Vec<lifecycle::Hook> {
///         lifecycle::__private::bound(self, module_path!())
///     }
///     fn add_hooks(this: &mut lifecycle::__private::Bind<Self>) {
///         this.add(HookKind::Shutdown, "Db::close", Self::close)
///             .with_order(100)
///             .with_timeout(Duration::from_secs(5));
///         this.add_blocking(HookKind::Persist, "Db::save_offsets", Self::save_offsets)
///             .with_every(Duration::from_secs(10));
///     }
/// }
///
/// // The same list bound to no value (bodies that do nothing), for the budget printed before
/// // start-up. Not emitted for a generic impl, nor for one without hooks.
/// const _: () = {
///     #[lifecycle::__private::distributed_slice(lifecycle::__private::COMPONENT_HOOKS)]
///     #[linkme(crate = lifecycle::__private::linkme)]
///     fn declared() -> Vec<lifecycle::Hook> {
///         lifecycle::__private::declared::<Db>()
///     }
/// };
/// # fn main() {}
/// ```
///
/// A `#[run]` method adds `fn runs(self: Arc<Self>) -> Vec<lifecycle::tasks::Run>` to the same
/// impl: see [`macro@run`].
///
/// # Readiness checks
///
/// `#[check(every = "5s", timeout = "1s", failures = 3, name = "postgres")]` on an `async fn`
/// method that takes `&self` and returns a `Result<(), E>` (or nothing) makes it a readiness
/// check of each managed value: run once the service is Ready, then every `every` (default
/// 10 s), each run bounded by `timeout` (default 1 s); once it has passed, `failures` failed
/// runs in a row (default 1, at least 1) make it fail, and while it fails
/// `lifecycle::axum::ready` answers 503 naming it and its error. It is named `Type::method`
/// unless `name` is given. `lifecycle::checks` says how checks run, and when a dependency
/// belongs in readiness (a database every replica shares does not). The methods add
/// `fn checks(self: Arc<Self>, checks: lifecycle::checks::Checks<'_>)` to the impl, one
/// `checks.check(name).every(..).timeout(..).failures(..).run(..)` a method: the same
/// `lifecycle::checks::Check` as `lc.check(name)` by hand.
///
/// ```no_run
/// use std::sync::Arc;
///
/// struct Db {/* a pool */}
///
/// #[lifecycle::component]
/// impl Db {
///     #[check(every = "5s", timeout = "1s", failures = 3, name = "postgres")]
///     async fn ping(&self) -> std::io::Result<()> {
///         Ok(()) // `self.pool.execute("SELECT 1").await`
///     }
/// }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.manage(Arc::new(Db {}));
///     lc.cancelled().await;
/// }
/// ```
///
/// Without the macro, the same check (each run holds its own clone of the value's `Arc`):
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::checks::Checks;
///
/// struct Db {/* a pool */}
///
/// impl Db {
///     async fn ping(&self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// impl lifecycle::Component for Db {
///     fn hooks(self: Arc<Self>) -> Vec<lifecycle::Hook> {
///         Vec::new()
///     }
///     fn checks(self: Arc<Self>, checks: Checks<'_>) {
///         checks
///             .check("postgres")
///             .every(Duration::from_secs(5))
///             .timeout(Duration::from_secs(1))
///             .failures(3)
///             .run(move || {
///                 let this = Arc::clone(&self);
///                 async move { this.ping().await }
///             });
///     }
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::component(args.into(), item.into()).into()
}

/// Marks a component's long-running part: an `async fn` method of a
/// [`#[lifecycle::component]`](macro@component) impl block that `lc.manage` spawns once the
/// service is Ready, as a critical tracked task in its stop stage, optionally restarted on
/// failure.
///
/// `#[lifecycle::run]` (or `#[run]`, bare) is read by `#[lifecycle::component]`, which removes
/// it: anywhere else it is a compile error saying so. It is an attribute of its own only so
/// that it has this page; `lifecycle::run` the function (in the value namespace, the same path)
/// is the one-call entry that runs a whole service without `#[lifecycle::main]`.
///
/// ```no_run
/// use std::sync::Arc;
/// use lifecycle::CancellationToken;
///
/// const CONSUMERS: lifecycle::tasks::Stage = 1; // cancelled after the unstaged work drained
///
/// #[derive(Debug)]
/// struct BrokerError;
/// # impl std::fmt::Display for BrokerError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("broker") }
/// # }
/// impl std::error::Error for BrokerError {}
///
/// struct Consumer {/* a broker connection */}
///
/// #[lifecycle::component]
/// impl Consumer {
///     #[run(stage = CONSUMERS, restart = "on-failure", max_restarts = 5, backoff = "200ms")]
///     async fn consume(&self, token: CancellationToken) -> Result<(), BrokerError> {
///         token.cancelled().await; // take messages until cancelled
///         Ok(())
///     }
/// }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.manage(Arc::new(Consumer {})); // spawns `consume` once the service is Ready
///     if !lc.started().await {
///         return;
///     }
///     lc.cancelled().await;
/// }
/// ```
///
/// The method is `async`, takes `&self` and its stage's `CancellationToken`, and returns
/// nothing, `()` or a `Result<(), E>` (the error types of the [`component`](macro@component)
/// page). Its token is cancelled at its stage's turn of the drain (see `lifecycle::tasks::Stage`).
/// A method is either the long-running part or a hook, not both. Keys, all optional:
///
/// | key | value | default |
/// |---|---|---|
/// | `stage` | `0` to `255`, or a `lifecycle::tasks::Stage` constant | unstaged: cancelled with the root token |
/// | `restart` | `"on-failure"` or `"never"` | `"never"`: the first failure shuts the service down (exit 1) |
/// | `max_restarts` | `1` and up; required with `"on-failure"` | |
/// | `backoff` | the wait before the first restart, doubled each time up to 10 s | `"100ms"` |
/// | `name` | the part's name in the report | its path |
///
/// With `restart = "on-failure"` the method is called again after an `Err` or a panic, after
/// the backoff, at most `max_restarts` times in the service's life; the next failure starts the
/// shutdown with exit code 1. Each restart is logged and listed in the report.
///
/// # Equivalent code without the macro
///
/// `#[lifecycle::component]` adds `runs` to the `Component` impl, one
/// `lifecycle::tasks::Run` a method, each with its own clone of the `Arc`:
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::tasks::{Restart, Run};
/// use lifecycle::CancellationToken;
///
/// struct Consumer;
///
/// impl Consumer {
///     async fn consume(&self, token: CancellationToken) -> std::io::Result<()> {
///         token.cancelled().await;
///         Ok(())
///     }
/// }
///
/// impl lifecycle::Component for Consumer {
///     fn hooks(self: Arc<Self>) -> Vec<lifecycle::Hook> {
///         Vec::new()
///     }
///     fn runs(self: Arc<Self>) -> Vec<Run> {
///         let this = self.clone();
///         let run = Run::new(concat!(module_path!(), "::Consumer::consume"), move |token| {
///             let this = this.clone();
///             async move { this.consume(token).await }
///         });
///         let backoff = Duration::from_millis(200);
///         let restart = Restart::on_failure(5).with_backoff(backoff, Restart::DEFAULT_MAX_BACKOFF);
///         vec![run.in_stage(1).with_restart(restart)]
///     }
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn run(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::run(args.into(), item.into()).into()
}

/// Runs a function once at start-up, before the service becomes Ready, in ascending `order`;
/// hooks of equal order run concurrently, each under its timeout. If one fails, panics or times
/// out (or a signal comes first), no later start hook runs, only the values that started are
/// stopped, and the process exits with code 5 (`lifecycle::exit::EXIT_START_FAILED`).
///
/// On a free function (no parameters) it registers the function with no wiring in `main`; on a
/// `&self` method it needs [`macro@component`] on the impl block, and the value must be
/// `lc.manage`d before `main`'s start boundary: the first of `lc.started().await`,
/// `lc.set_ready()`, `lc.cancelled()` (or `triggered`) or a lifecycle serve
/// loop, called by `main` itself. Where that is does not depend on which `.await` happens to
/// wait: it is a call you write. One managed after it is a start-up failure (exit 5, named on
/// standard error and in the report). The start hooks run from the boundary on, concurrently with
/// the rest of `main`, which awaits `lc.started()` before it uses what they open.
///
/// What started is stopped, also when half started: a value any of whose start hooks succeeded
/// gets its `#[on_shutdown]` hooks, so they must cope with a partial start (a pool opened, its
/// migration never run); its `#[persist]` hooks run only if all its start hooks succeeded.
///
/// ```no_run,standalone_crate
/// use std::sync::Arc;
///
/// struct Db {/* a pool */}
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_start(order = 10, timeout = "10s")]
///     async fn connect(&self) -> std::io::Result<()> { Ok(()) }
///
///     #[on_shutdown(order = 100)]
///     async fn close(&self) {} // runs if `connect` succeeded, even if a later start hook did not
/// }
///
/// #[lifecycle::on_start(order = 20)]
/// async fn warm_cache() -> Result<(), String> { Ok(()) }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.manage(Arc::new(Db {}));
///     if !lc.started().await {
///         return; // a start hook failed: the shutdown is under way
///     }
///     lc.cancelled().await;
/// }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long the hook may run before start-up fails, `"10s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the report | the function's path |
///
/// The equivalent code calls `lifecycle::Hook::new(HookKind::Start, name, f)` (or
/// `Hook::blocking` for a function that is not `async`), as [`macro@on_shutdown`] shows for its
/// hook.
#[proc_macro_attribute]
pub fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::on_start(args.into(), item.into()).into()
}

/// Runs a function on each reload: SIGHUP (when it is not one of the shutdown `signals`) or
/// `lc.request_reload()`, once start-up succeeded and until the shutdown is triggered. Reload
/// hooks run in ascending `order`, equal orders concurrently, each under its timeout; reloads
/// never overlap. A failing reload hook is logged and counted in the report; the service keeps
/// running (and the exit code is not changed).
///
/// A reload asked for during start-up is not lost and does not race `main`: it runs once the
/// service is Ready (with `ready = "manual"`, after `lc.set_ready()`) and after `main`'s code
/// that follows `lc.started().await` has run up to its next waiting `.await`, so what `main`
/// sets up there is in place before the hook changes it. When start-up fails it never runs
/// (`reload ignored: start-up failed`, said once); after the trigger none starts
/// (`reload ignored: shutting down`, said once, however many SIGHUPs come).
///
/// ```no_run,standalone_crate
/// #[lifecycle::on_reload(timeout = "2s")]
/// fn reread_config() -> std::io::Result<()> {
///     Ok(())
/// }
/// # #[lifecycle::main]
/// # async fn main(lc: lifecycle::Lifecycle) { lc.cancelled().await }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long one run may take before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the report | the function's path |
///
/// # A complete example
///
/// A component re-reads its settings on each reload, and a free function runs after it (a
/// higher `order`). `main` asks for one reload, as SIGHUP would, and waits for it:
///
/// ```standalone_crate
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use lifecycle::CancellationToken;
///
/// struct Settings {
///     reloads: AtomicU64,
///     reloaded: CancellationToken, // a one-shot "it happened", for this example
/// }
///
/// #[lifecycle::component]
/// impl Settings {
///     #[on_reload(order = 10, timeout = "2s")]
///     async fn reread(&self) -> std::io::Result<()> {
///         // Read the file again and swap the new values in; on `Err` the old ones stay.
///         self.reloads.fetch_add(1, Ordering::Relaxed);
///         self.reloaded.cancel();
///         Ok(())
///     }
/// }
///
/// #[lifecycle::on_reload(order = 20)] // after `Settings::reread`
/// fn log_reload() {
///     println!("settings reloaded");
/// }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     let settings = Arc::new(Settings {
///         reloads: AtomicU64::new(0),
///         reloaded: CancellationToken::new(),
///     });
///     lc.manage(settings.clone());
///     if !lc.started().await {
///         return;
///     }
///     lc.request_reload(); // what SIGHUP does
///     settings.reloaded.cancelled().await;
///     assert_eq!(settings.reloads.load(Ordering::Relaxed), 1);
///     // A real service serves here until SIGTERM: `lc.cancelled().await`.
/// }
/// ```
///
/// The equivalent code calls `lifecycle::Hook::new(HookKind::Reload, name, f)` (or
/// `Hook::blocking`).
#[proc_macro_attribute]
pub fn on_reload(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::on_reload(args.into(), item.into()).into()
}

/// Runs a function once at shutdown, after the drain and the persist hooks, in ascending
/// `order`; hooks of equal order run concurrently, and every hook runs even when another fails.
///
/// On a free function (no parameters) it registers the function with no wiring in `main`; on a
/// `&self` method it needs [`macro@component`] on the impl block. After a failed start-up, a
/// method's hook runs if any start hook of its value succeeded: it must cope with a partial
/// start (see [`macro@on_start`]); a value that has start hooks, none of which succeeded, is not
/// stopped.
///
/// ```no_run,standalone_crate
/// #[lifecycle::on_shutdown(order = 10, timeout = "2s")]
/// async fn flush_metrics() -> Result<(), std::io::Error> {
///     Ok(())
/// }
/// # #[lifecycle::main]
/// # async fn main(lc: lifecycle::Lifecycle) { lc.cancelled().await }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long the hook may run before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the shutdown report | the function's path |
///
/// # A complete example
///
/// A database pool closed last, and two free hooks before it that run at the same time (equal
/// orders):
///
/// ```standalone_crate
/// use std::sync::Arc;
///
/// struct Db {/* a pool */}
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_shutdown(order = 100, timeout = "5s")] // last: the others may still use the pool
///     async fn close(&self) -> std::io::Result<()> {
///         println!("pool closed");
///         Ok(())
///     }
/// }
///
/// #[lifecycle::on_shutdown(order = 10, timeout = "2s")]
/// async fn flush_metrics() {
///     println!("metrics flushed");
/// }
///
/// #[lifecycle::on_shutdown(order = 10)] // the same order: runs alongside `flush_metrics`
/// fn remove_pid_file() -> std::io::Result<()> {
///     Ok(()) // not `async`: runs on Tokio's blocking pool
/// }
///
/// #[lifecycle::main(grace = "10s")]
/// async fn main(lc: lifecycle::Lifecycle) {
///     lc.manage(Arc::new(Db {}));
///     if !lc.started().await {
///         return;
///     }
///     // A real service serves here until SIGTERM (`lc.cancelled().await`); this one returns,
///     // which triggers the shutdown: drain, persist hooks, then these hooks by order.
/// }
/// ```
///
/// # Equivalent code without the macro
///
/// ```no_run
/// use std::time::Duration;
/// use lifecycle::hooks::HookKind;
///
/// async fn flush_metrics() -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// const _: () = {
///     const NAME: &str = concat!(module_path!(), "::flush_metrics");
///     #[lifecycle::__private::distributed_slice(lifecycle::__private::FREE_HOOKS)]
///     #[linkme(crate = lifecycle::__private::linkme)]
///     static HOOK: fn() -> lifecycle::Hook = || {
///         lifecycle::Hook::new(HookKind::Shutdown, NAME, flush_metrics)
///             .with_order(10)
///             .with_timeout(Duration::from_secs(2))
///     };
/// };
/// # fn main() {}
/// ```
///
/// A function that is not `async` is registered with `Hook::blocking` and runs on Tokio's
/// blocking pool.
#[proc_macro_attribute]
pub fn on_shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::on_shutdown(args.into(), item.into()).into()
}

/// Saves state at shutdown, before the shutdown hooks (while resources are still open), and
/// with `every = "10s"` also periodically while the app runs.
///
/// On a free function (no parameters) it registers the function with no wiring in `main`; on a
/// `&self` method it needs [`macro@component`] on the impl block.
///
/// ```no_run,standalone_crate
/// #[lifecycle::persist(every = "10s", timeout = "2s")]
/// async fn save_offsets() -> std::io::Result<()> {
///     lifecycle::state_file::write_atomic("offsets.json", b"{}")
/// }
/// # #[lifecycle::main]
/// # async fn main(lc: lifecycle::Lifecycle) { lc.cancelled().await }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `every` | also run it with this period while the app runs, `"10s"` | only at shutdown |
/// | `timeout` | how long one run may take before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `order` | an `i32`; lower runs first among persist hooks, negative allowed | `0` |
/// | `name` | the name in the shutdown report | the function's path |
///
/// A method's persist hooks run only if every start hook of its value succeeded: a state that
/// was never loaded is not saved over a good one (see [`macro@on_start`]).
///
/// # A complete example
///
/// A counter that survives restarts: loaded by a start hook, saved every 10 s while the service
/// runs and once more at shutdown, atomically (a crash mid-write leaves the previous file):
///
/// ```
/// use std::path::PathBuf;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// struct Counter {
///     path: PathBuf,
///     count: AtomicU64,
/// }
///
/// #[lifecycle::component]
/// impl Counter {
///     #[on_start]
///     fn load(&self) -> std::io::Result<()> {
///         if let Some(bytes) = lifecycle::state_file::read_state(&self.path)? {
///             let text = String::from_utf8_lossy(&bytes);
///             let count = text.trim().parse().map_err(|err| {
///                 let what = format!("{}: {err}", self.path.display());
///                 std::io::Error::new(std::io::ErrorKind::InvalidData, what)
///             })?;
///             self.count.store(count, Ordering::Relaxed);
///         }
///         Ok(())
///     }
///
///     #[persist(every = "10s", timeout = "2s")]
///     fn save(&self) -> std::io::Result<()> {
///         let count = self.count.load(Ordering::Relaxed);
///         lifecycle::state_file::write_atomic(&self.path, count.to_string())
///     }
/// }
///
/// #[lifecycle::main]
/// async fn main(lc: lifecycle::Lifecycle) {
///     let path = std::env::temp_dir().join("lifecycle-persist-example.txt");
///     let counter = Arc::new(Counter { path, count: AtomicU64::new(0) });
///     lc.manage(counter.clone());
///     if !lc.started().await {
///         return; // `load` failed (a corrupt file): nothing is saved over it
///     }
///     counter.count.fetch_add(1, Ordering::Relaxed); // a request served
///     // A real service serves here until SIGTERM (`lc.cancelled().await`); this one returns,
///     // and the shutdown's `save` writes the count.
/// }
/// ```
///
/// # Equivalent code without the macro
///
/// ```no_run
/// use std::time::Duration;
/// use lifecycle::hooks::HookKind;
///
/// async fn save_offsets() -> std::io::Result<()> {
///     lifecycle::state_file::write_atomic("offsets.json", b"{}")
/// }
///
/// const _: () = {
///     const NAME: &str = concat!(module_path!(), "::save_offsets");
///     #[lifecycle::__private::distributed_slice(lifecycle::__private::FREE_HOOKS)]
///     #[linkme(crate = lifecycle::__private::linkme)]
///     static HOOK: fn() -> lifecycle::Hook = || {
///         lifecycle::Hook::new(HookKind::Persist, NAME, save_offsets)
///             .with_timeout(Duration::from_secs(2))
///             .with_every(Duration::from_secs(10))
///     };
/// };
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn persist(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::persist(args.into(), item.into()).into()
}
