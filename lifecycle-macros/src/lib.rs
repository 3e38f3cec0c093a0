//! Attribute macros for the [`lifecycle`] crate. Use them through `lifecycle`
//! (`#[lifecycle::main]`, `#[lifecycle::component]`, `#[lifecycle::on_start]`,
//! `#[lifecycle::on_reload]`, `#[lifecycle::on_shutdown]`, `#[lifecycle::persist]`), not from this crate directly: the generated code calls into
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
//! [`lifecycle`]: https://docs.rs/lifecycle

use proc_macro::TokenStream;

/// Runs an `async fn main` inside the graceful-shutdown sequence: signals, drain, persist hooks,
/// ordered shutdown hooks, and an exit code from the shutdown report.
///
/// ```ignore
/// #[lifecycle::main(grace = "30s", drain_delay = "5s")]
/// async fn main(lc: lifecycle::Lifecycle) -> Result<(), AppError> {
///     lc.spawn(worker(lc.token()));
///     serve(lc.cancelled_owned()).await
/// }
/// ```
///
/// # Arguments
///
/// Every key is optional; a key left out keeps the runtime's default, and the `LIFECYCLE_*`
/// environment variables are applied on top at start-up.
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `grace` | how long the drain waits for the main body and tracked tasks, `"30s"` | `"30s"` |
/// | `drain_delay` | how long to keep serving after readiness flips to draining, `"5s"` | `"0s"` |
/// | `hook_timeout` | the limit of a hook that sets no `timeout` of its own, `"5s"` | `"5s"` |
/// | `signals` | which signals trigger shutdown: `[SIGTERM, SIGINT, SIGQUIT, SIGHUP]` | `[SIGTERM, SIGINT, SIGQUIT]` |
/// | `force_on_second_signal` | exit at once with 128 + the signal number on a second signal | `true` |
/// | `flavor` | `"multi_thread"` or `"current_thread"` | `"multi_thread"` |
/// | `worker_threads` | worker threads of the `multi_thread` runtime | one per CPU |
/// | `repeat_window` | a repeat of the same signal within this window counts once, `"50ms"`; `"0s"` counts every delivery | `"50ms"` |
/// | `deadline_margin` | how far past the worst case the hard deadline lies, `"1s"`; `"0s"` allowed | `"1s"` |
/// | `init` | a `fn()` called first, before the configuration, the runtime and every lifecycle event, `init = setup_logging` | none |
/// | `startup_timeout` | the longest the start phase may take (`main` up to its start boundary, the start hooks, and the wait for `set_ready`), `"60s"` | `"60s"` |
/// | `ready` | `"auto"`: Ready once every start hook succeeded; `"manual"`: once they succeeded *and* the app called `lc.set_ready()` | `"auto"` |
///
/// The function may take one parameter, the `lifecycle::Lifecycle` by value (it receives a
/// clone: the handle is cheap to clone), and may return `()` or a `Result<(), E>` with
/// an error type that converts into `Box<dyn Error + Send + Sync>` (any `lifecycle::Outcome`).
/// A wrong return type is one error, at the type.
///
/// # Installing logging first: `init`
///
/// The sequence logs from its first step ("ready" once the signals are installed), so a log
/// subscriber installed in the body comes too late. Name a function with `init`: it runs before
/// anything else, even before the `LIFECYCLE_*` environment variables are read.
///
/// ```ignore
/// fn setup_logging() {
///     tracing_subscriber::fmt().init();
/// }
///
/// #[lifecycle::main(grace = "30s", init = setup_logging)]
/// async fn main(lc: lifecycle::Lifecycle) { ... }
/// ```
///
/// The function must be a `fn()`: it takes nothing and returns nothing (handle its errors
/// inside, or panic, which ends the program before anything starts).
///
/// # Equivalent code without the macro
///
/// With `init = setup_logging` added to the attribute:
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     async fn __lifecycle_main(lc: lifecycle::Lifecycle) -> Result<(), AppError> {
///         lc.spawn(worker(lc.token()));
///         serve(lc.cancelled_owned()).await
///     }
///     // The declared return type, checked once (one error at the type if it is not an
///     // outcome): the steps below see only a future whose output is an `Outcome`.
///     fn __lifecycle_checked(lc: lifecycle::Lifecycle) -> impl lifecycle::__private::MainFuture {
///         __lifecycle_main(lc)
///     }
///     let init: fn() = setup_logging;                 // only with `init = ...`, and first
///     init();
///     let config = lifecycle::Config::new()
///         .with_grace(Duration::from_secs(30))
///         .with_drain_delay(Duration::from_secs(5));
///     // The sequence, one step a line; a start-up error leaves through `?`.
///     let run = |config| async move {
///         let sequence = lifecycle::Sequence::new(config);
///         let lc = sequence.handle();
///         let running = sequence.start()?;            // free hooks, signals, watchdog thread
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
///     // and becomes exit 78 or 71.
///     lifecycle::__private::block_on(config.apply_env(), run)
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::main(args.into(), item.into()).into()
}

/// Makes the `#[on_shutdown]` and `#[persist]` methods of an inherent impl block the hooks of
/// each value handed to `Lifecycle::manage`, and its `#[run]` methods its long-running parts.
///
/// ```ignore
/// #[lifecycle::component]
/// impl Db {
///     #[on_shutdown(order = 100, timeout = "5s")]
///     async fn close(&self) -> Result<(), sqlx::Error> { ... }
///
///     #[persist(every = "10s")]
///     fn save_offsets(&self) -> std::io::Result<()> { ... }
/// }
///
/// lc.manage(Arc::new(db));
/// ```
///
/// A hook method takes `&self` and nothing else, may be `async` or not (a non-async hook runs on
/// Tokio's blocking pool), and returns nothing, `()` or a `Result<(), E>` with `E: Display`.
/// Inside the impl the attributes may be written bare (`#[on_shutdown]`) or qualified
/// (`#[lifecycle::on_shutdown]`); their arguments are those of [`macro@on_shutdown`] and
/// [`macro@persist`]. The hook's name in the report defaults to its path, `my_app::db::Db::close`.
///
/// # Long-running parts: `#[run]`
///
/// ```ignore
/// #[lifecycle::component]
/// impl Consumer {
///     #[run(stage = 1, restart = "on-failure", max_restarts = 5, backoff = "200ms")]
///     async fn consume(&self, token: CancellationToken) -> Result<(), BrokerError> { ... }
/// }
/// ```
///
/// A `#[run]` method is `async`, takes `&self` and its stage's token, and returns nothing, `()`
/// or a `Result<(), E>`. `lc.manage` spawns it (once the service is Ready) as a critical tracked
/// task in its stop stage; the token is cancelled at that stage's turn of the drain (see
/// `lifecycle::hooks::Stage`). Keys, all optional:
///
/// | key | value | default |
/// |---|---|---|
/// | `stage` | `0` to `255`, or a `lifecycle::hooks::Stage` constant | unstaged: cancelled with the root token |
/// | `restart` | `"on-failure"` or `"never"` | `"never"`: the first failure shuts the service down (exit 1) |
/// | `max_restarts` | `1` and up; required with `"on-failure"` | |
/// | `backoff` | the wait before the first restart, doubled each time up to 10 s | `"100ms"` |
/// | `name` | the part's name in the report | its path |
///
/// It generates `fn runs(self: Arc<Self>) -> Vec<lifecycle::hooks::Run>` in the same
/// `impl Component`, one `Run::new(name, |token| ..).in_stage(1).with_restart(..)` a method,
/// each call with its own clone of the `Arc` (see `examples/expanded/orders.rs`).
///
/// # Equivalent code without the macro
///
/// The hooks are listed once, in `add_hooks`, and that one list serves twice: bound to each
/// managed value (`hooks`), and bound to none for the budget `LIFECYCLE_PRINT_BUDGET=1` prints
/// before start-up. Each method is passed as a function (`Self::close`); each hook holds its own
/// clone of the value's `Arc`. Names are given below the module: `"Db::close"` is reported as
/// `my_app::db::Db::close`.
///
/// ```ignore
/// impl Db {
///     async fn close(&self) -> Result<(), sqlx::Error> { ... }
///     fn save_offsets(&self) -> std::io::Result<()> { ... }
/// }
///
/// impl lifecycle::Component for Db {
///     fn hooks(self: Arc<Self>) -> Vec<lifecycle::Hook> {
///         lifecycle::__private::bound(self, module_path!())
///     }
///     fn add_hooks(this: &mut lifecycle::__private::Bind<Self>) {
///         this.on_shutdown("Db::close", Self::close)
///             .with_order(100)
///             .with_timeout(Duration::from_secs(5));
///         this.persist_blocking("Db::save_offsets", Self::save_offsets)
///             .with_every(Duration::from_secs(10));
///     }
/// }
///
/// // The same list bound to no value (bodies that do nothing), for the budget printed before
/// // start-up. Not emitted for a generic impl, nor for one without shutdown or persist hooks.
/// const _: () = {
///     #[linkme::distributed_slice(lifecycle::__private::COMPONENT_HOOKS)]
///     fn declared() -> Vec<lifecycle::Hook> {
///         lifecycle::__private::declared::<Db>()
///     }
/// };
/// ```
#[proc_macro_attribute]
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::component(args.into(), item.into()).into()
}

/// Runs a function once at start-up, before the service becomes Ready, in ascending `order`;
/// hooks of equal order run concurrently, each under its timeout. If one fails, panics or times
/// out (or a signal comes first), no later start hook runs, only the values that started are
/// stopped, and the process exits with code 5 (`lifecycle::report::EXIT_START_FAILED`).
///
/// On a free function (no parameters) it registers the function with no wiring in `main`; on a
/// `&self` method it needs [`macro@component`] on the impl block, and the value must be
/// `lc.manage`d before `main`'s start boundary: the first of `lc.started().await`,
/// `lc.set_ready()`, `lc.cancelled()` (or `cancelled_owned`, `triggered`) or a lifecycle serve
/// loop, called by `main` itself. Where that is does not depend on which `.await` happens to
/// wait: it is a call you write. One managed after it is a start-up failure (exit 5, named on
/// standard error and in the report). The start hooks run from the boundary on, concurrently with
/// the rest of `main`, which awaits `lc.started()` before it uses what they open.
///
/// What started is stopped, also when half started: a value any of whose start hooks succeeded
/// gets its `#[on_shutdown]` hooks, so they must cope with a partial start (a pool opened, its
/// migration never run); its `#[persist]` hooks run only if all its start hooks succeeded.
///
/// ```ignore
/// #[lifecycle::component]
/// impl Db {
///     #[on_start(order = 10, timeout = "10s")]
///     async fn connect(&self) -> Result<(), sqlx::Error> { ... }
///
///     #[on_shutdown(order = 100)]
///     async fn close(&self) { ... }   // runs if `connect` succeeded, even if a later start hook did not
/// }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long the hook may run before start-up fails, `"10s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the report | the function's path |
///
/// The equivalent code calls `lifecycle::Hook::on_start(name, f)` (or `on_start_blocking` for
/// a function that is not `async`), as [`macro@on_shutdown`] shows for its hook.
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
/// ```ignore
/// #[lifecycle::on_reload(timeout = "2s")]
/// fn reread_config() -> std::io::Result<()> { ... }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long one run may take before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the report | the function's path |
///
/// The equivalent code calls `lifecycle::Hook::on_reload(name, f)` (or `on_reload_blocking`).
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
/// start (see [`macro@on_start`]); a value none of whose start hooks succeeded is not stopped.
///
/// ```ignore
/// #[lifecycle::on_shutdown(order = 10, timeout = "2s")]
/// async fn flush_metrics() -> Result<(), std::io::Error> { ... }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `order` | an `i32`; lower runs first, negative allowed | `0` |
/// | `timeout` | how long the hook may run before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `name` | the name in the shutdown report | the function's path |
///
/// # Equivalent code without the macro
///
/// ```ignore
/// async fn flush_metrics() -> Result<(), std::io::Error> { ... }
///
/// const _: () = {
///     const NAME: &str = concat!(module_path!(), "::flush_metrics");
///     #[linkme::distributed_slice(lifecycle::__private::FREE_HOOKS)]
///     static HOOK: fn() -> lifecycle::Hook = || {
///         lifecycle::Hook::on_shutdown(NAME, flush_metrics)
///             .with_order(10)
///             .with_timeout(Duration::from_secs(2))
///     };
/// };
/// ```
///
/// A function that is not `async` is registered with `Hook::on_shutdown_blocking` and runs on
/// Tokio's blocking pool.
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
/// ```ignore
/// #[lifecycle::persist(every = "10s", timeout = "2s")]
/// async fn save_offsets() -> std::io::Result<()> { ... }
/// ```
///
/// | key | value | default |
/// | --- | --- | --- |
/// | `every` | also run it with this period while the app runs, `"10s"` | only at shutdown |
/// | `timeout` | how long one run may take before it is reported timed out, `"2s"` | `hook_timeout` of `#[lifecycle::main]` |
/// | `order` | an `i32`; lower runs first among persist hooks, negative allowed | `0` |
/// | `name` | the name in the shutdown report | the function's path |
///
/// # Equivalent code without the macro
///
/// ```ignore
/// async fn save_offsets() -> std::io::Result<()> { ... }
///
/// const _: () = {
///     const NAME: &str = concat!(module_path!(), "::save_offsets");
///     #[linkme::distributed_slice(lifecycle::__private::FREE_HOOKS)]
///     static HOOK: fn() -> lifecycle::Hook = || {
///         lifecycle::Hook::persist(NAME, save_offsets)
///             .with_timeout(Duration::from_secs(2))
///             .with_every(Duration::from_secs(10))
///     };
/// };
/// ```
#[proc_macro_attribute]
pub fn persist(args: TokenStream, item: TokenStream) -> TokenStream {
    lifecycle_macros_impl::persist(args.into(), item.into()).into()
}
