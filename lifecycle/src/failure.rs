//! Failures as the report keeps them: the error itself, shared; printed alone with `{}`, with
//! its whole `source()` chain with `{:#}` (as the report prints it).

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error returned by the main future, a hook or a tracked task, kept whole.
///
/// It prints as Rust errors do:
///
/// - `{}` (`to_string()`): the error's own message, without its causes: `loading the config`;
/// - `{:#}`: the message and every error of its [`source`](Error::source) chain, each once,
///   joined by `: `: `loading the config: No such file or directory (os error 2)`. A cause
///   whose text the message before it already contains is not repeated.
///
/// The report, the logs and the health checks print a failure with `{:#}`, so the cause
/// survives. The error is shared, not copied: [`downcast_ref`](Failure::downcast_ref) reaches
/// the original value.
///
/// Anything that converts into `Box<dyn Error + Send + Sync>` becomes a `Failure`: every
/// `Error + Send + Sync` type, `String`, `&str`, and the error types of `anyhow` and `eyre`.
///
/// A `Failure` is an error itself ([`std::error::Error`], `Send + Sync`): a joined task's
/// failure passes on with `?` into `Box<dyn Error + Send + Sync>` (or any error type that takes
/// one), and a task or hook may return it as its own error: it is kept as it is, not wrapped
/// again. It stands for the error it holds: its [`source`](Error::source) is that error's
/// source (none for a panic, which has no error value), so a printer that walks the chain
/// (`anyhow`'s `{:#}`, an error reporter) shows the message and each cause once, as `{:#}` does.
///
/// # Examples
///
/// ```
/// use std::fmt;
/// use lifecycle::Failure;
///
/// #[derive(Debug)]
/// struct LoadConfig(std::io::Error);
/// impl fmt::Display for LoadConfig {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("loading the config")
///     }
/// }
/// impl std::error::Error for LoadConfig {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no file `app.toml`");
/// let failure = Failure::new(LoadConfig(missing));
/// assert_eq!(failure.to_string(), "loading the config");
/// assert_eq!(format!("{failure:#}"), "loading the config: no file `app.toml`");
/// assert!(failure.downcast_ref::<LoadConfig>().is_some());
/// assert_eq!(Failure::new("disk full").to_string(), "disk full");
/// ```
///
/// Passing a child task's failure on with `?`:
///
/// ```
/// use std::error::Error;
/// use lifecycle::{Config, Sequence};
///
/// type BoxError = Box<dyn Error + Send + Sync>;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// let child = lc.spawn(async {
///     let config = std::fs::read_to_string("/no/such/app.toml")?;
///     Ok::<_, std::io::Error>(config.len())
/// });
/// // The parent: `??` passes on the join error, then the child's failure.
/// let parent = lc.spawn(async move {
///     let len = child.await??;
///     Ok::<_, BoxError>(len)
/// });
/// let failure = parent.await.unwrap().unwrap_err();
/// // The same failure, not wrapped again: the original error is inside.
/// assert!(failure.downcast_ref::<std::io::Error>().is_some());
/// assert!(!failure.is_panic());
///
/// // And out of a plain function returning a boxed error.
/// fn check(result: Result<usize, lifecycle::Failure>) -> Result<usize, BoxError> {
///     Ok(result?)
/// }
/// let err = check(Err(failure.clone())).unwrap_err();
/// assert_eq!(err.to_string(), failure.to_string());
/// # }
/// ```
#[derive(Clone)]
pub struct Failure {
    error: Arc<dyn Error + Send + Sync + 'static>,
    /// Made of a caught panic: `error` is its message, not an error value.
    panicked: bool,
}

impl Failure {
    /// Wraps an error. A `Failure` (boxed or not) is kept as it is, not wrapped again.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::Failure;
    ///
    /// let failure = Failure::new(format!("{} jobs lost", 3));
    /// assert_eq!(failure.to_string(), "3 jobs lost");
    /// let again = Failure::new(failure.clone());
    /// assert!(again.downcast_ref::<Failure>().is_none()); // not a failure in a failure
    /// assert_eq!(again, failure);
    /// ```
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        match error.into().downcast::<Failure>() {
            Ok(failure) => *failure,
            Err(error) => Self {
                error: Arc::from(error),
                panicked: false,
            },
        }
    }

    /// Whether this failure is a caught panic (of a task, a hook or `main`), read
    /// `panicked: <message>`, rather than an error returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let sequence = Sequence::new(Config::new());
    /// let lc = sequence.handle();
    /// lc.task("parser").spawn(async { panic!("bad input") });
    /// lc.task("fetch").spawn(async { Err::<(), _>("upstream refused") });
    /// let report = sequence.run_without_signals(async {}).await;
    /// let parser = report.task_failures.iter().find(|failed| failed.task == "parser").unwrap();
    /// assert!(parser.first.is_panic());
    /// let fetch = report.task_failures.iter().find(|failed| failed.task == "fetch").unwrap();
    /// assert!(!fetch.first.is_panic());
    /// # }
    /// ```
    pub fn is_panic(&self) -> bool {
        self.panicked
    }

    /// The error itself. For a panic, an error whose text is `panicked: <message>` (see
    /// [`panic_message`](Failure::panic_message) for the message alone).
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = lifecycle::Failure::new(std::io::Error::other("broker gone"));
    /// assert_eq!(failure.error().to_string(), "broker gone");
    /// assert!(failure.error().source().is_none());
    /// ```
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// What a panic was given, without the `panicked: ` the report prints before it; `None` for
    /// a failure that is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use lifecycle::{Config, Sequence};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lc = Sequence::new(Config::new()).handle();
    /// let scope = lc.scope("parse").keep_failures();
    /// scope.task("line 7").spawn(async { panic!("unexpected end of input") });
    /// scope.task("line 9").spawn(async { Err::<(), _>("empty key") });
    /// let Err(lifecycle::tasks::JoinError::Failed(failures)) = scope.join().await else {
    ///     unreachable!("both tasks failed");
    /// };
    /// let messages: Vec<_> = failures.iter().map(|f| f.first.panic_message()).collect();
    /// assert_eq!(messages, [Some("unexpected end of input".to_owned()), None]);
    /// # }
    /// ```
    pub fn panic_message(&self) -> Option<String> {
        if !self.panicked {
            return None;
        }
        let text = self.error.to_string();
        Some(match text.strip_prefix("panicked: ") {
            Some(message) => message.to_owned(),
            None => text,
        })
    }

    /// The error as its original type, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = lifecycle::Failure::new(std::io::Error::other("broker gone"));
    /// assert!(failure.downcast_ref::<std::io::Error>().is_some());
    /// assert!(failure.downcast_ref::<std::fmt::Error>().is_none());
    /// ```
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref::<E>()
    }

    /// A failure made of a caught panic, as `panicked: <message>`.
    pub(crate) fn panic(payload: &(dyn Any + Send)) -> Self {
        Self::panicked(&panic_message(payload))
    }

    /// A failure made of a panic's message, as `panicked: <message>`.
    pub(crate) fn panicked(message: &str) -> Self {
        Self {
            error: Arc::from(Box::<dyn Error + Send + Sync>::from(format!(
                "panicked: {message}"
            ))),
            panicked: true,
        }
    }
}

/// The original error's source: a `Failure` reads as the error it holds (its message, then the
/// error's causes), so a printer that walks the chain shows each cause once. A panic has none.
impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}

/// `{}`: the error's own message; `{:#}`: it and every cause, each once, joined by `: `.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.error.to_string();
        f.write_str(&shown)?;
        if !f.alternate() {
            return Ok(());
        }
        write_causes(f, shown, self.error.source())
    }
}

/// Writes each of the causes from `cause` on, after `shown` (the message written before them),
/// as `: <cause>`; one whose message is empty or is already in the one before it is skipped.
/// What `{:#}` adds to `{}` for the errors of the crate.
pub(crate) fn write_causes(
    f: &mut fmt::Formatter<'_>,
    mut shown: String,
    mut cause: Option<&(dyn Error + 'static)>,
) -> fmt::Result {
    while let Some(error) = cause {
        let text = error.to_string();
        if !text.is_empty() && !shown.contains(&text) {
            write!(f, ": {text}")?;
            shown = text;
        }
        cause = error.source();
    }
    Ok(())
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Failure")
            .field(&format_args!("{self:#}"))
            .finish()
    }
}

/// Two failures are equal when they read the same, causes included.
impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.error, &other.error) || format!("{self:#}") == format!("{other:#}")
    }
}

impl Eq for Failure {}

/// An error type the report can keep: anything that converts into
/// `Box<dyn Error + Send + Sync>`. The bound on the error of every hook, task and main function.
///
/// A type that is only `Debug` (or only `Display`), and `()`, are not errors the report can
/// print with their cause: the compiler then says so with this trait's message, which names the
/// type and the fix (implement `std::error::Error`, or map the error to a `String`).
///
/// # Examples
///
/// ```
/// use lifecycle::failure::IntoFailure;
///
/// let failure = std::io::Error::other("disk full").into_failure();
/// assert_eq!(failure.to_string(), "disk full");
/// assert_eq!("no route".into_failure().to_string(), "no route");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of `main`, a hook or a tracked task: the error type must convert into `Box<dyn std::error::Error + Send + Sync>`",
    label = "its error type is `{Self}`",
    note = "every `std::error::Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `Box<dyn std::error::Error + Send + Sync>`, `anyhow::Error` and `eyre::Report`",
    note = "to fix it, implement `std::fmt::Display` and `std::error::Error` for the error type (`impl std::error::Error for MyError {{}}`), or map it into one that converts: `.map_err(|e| format!(\"{{e:?}}\"))`; an `Err(())` says nothing the report could print: return `()` instead of a `Result`, or an error that names what failed"
)]
pub trait IntoFailure {
    /// Wraps the error.
    fn into_failure(self) -> Failure;
}

// `do_not_recommend`: for an error type that does not convert, the compiler reports this
// trait's message (the type, and how to fix it) instead of the `From` bound inside `Box`.
// Stable since Rust 1.85; older compilers ignore it with a warning, allowed here.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<E: Into<Box<dyn Error + Send + Sync + 'static>>> IntoFailure for E {
    fn into_failure(self) -> Failure {
        Failure::new(self)
    }
}

/// What the main function, a hook or a tracked task may return: `()`, or `Result<T, E>` where
/// `E` converts into a [`Failure`] (any `Error + Send + Sync` type, `String`, `&str`,
/// `anyhow::Error`, ...), or nothing at all: a future or closure that never returns (its output
/// is the never type `!`, as for `async { loop { .. } }` or `|| panic!(..)`) is an outcome too,
/// and joins as `()`. Sealed: these are the only implementations.
///
/// An `Err` is recorded in the report with its whole `source()` chain. For a tracked task the
/// error then belongs to the report: the task's `JoinHandle` yields `Result<T, Failure>`
/// ([`Joined`](Outcome::Joined)), and [`Failure::downcast_ref`] reaches the original error.
///
/// # Examples
///
/// ```
/// use lifecycle::Outcome;
///
/// let ((), failure) = ().into_outcome();
/// assert!(failure.is_none());
/// let (joined, failure) = Err::<u32, _>("broker gone").into_outcome();
/// assert_eq!(failure.unwrap().to_string(), "broker gone");
/// assert_eq!(joined.unwrap_err().to_string(), "broker gone");
/// ```
///
/// What `tokio::spawn` accepts, `spawn` accepts: a task that loops forever or only panics
/// compiles in every edition (in edition 2024 its output is `!`; before, `()`), and its handle
/// is a `JoinHandle<()>` either way.
///
/// ```
/// use lifecycle::{Config, Sequence};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lc = Sequence::new(Config::new()).handle();
/// let token = lc.token();
/// let ticker = lc.spawn(async move {
///     loop {
///         token.cancelled().await; // a real task would do its work here
///         tokio::task::yield_now().await;
///     }
/// });
/// let failing = lc.spawn(async { panic!("no config") });
/// let handles: Vec<tokio::task::JoinHandle<()>> = vec![ticker, failing];
/// # drop(handles);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a lifecycle outcome: `main`, hooks and tracked tasks return `()` or `Result<T, E>` with an error type `E` that converts into `Box<dyn std::error::Error + Send + Sync>`",
    label = "returns `{Self}`",
    note = "every `std::error::Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `Box<dyn std::error::Error + Send + Sync>`, `anyhow::Error` and `eyre::Report`",
    note = "to hand a value back from a task, return `Ok(value)`; to fail, return `Err(error)` with one of those error types"
)]
pub trait Outcome: sealed::Sealed {
    /// What a tracked task's `JoinHandle` yields: `()`, or `Result<T, Failure>`.
    type Joined;

    /// Splits the value into what the `JoinHandle` yields and the failure to record, if any.
    fn into_outcome(self) -> (Self::Joined, Option<Failure>);
}

impl Outcome for () {
    type Joined = ();

    fn into_outcome(self) -> ((), Option<Failure>) {
        ((), None)
    }
}

impl<T, E: IntoFailure> Outcome for Result<T, E> {
    type Joined = Result<T, Failure>;

    fn into_outcome(self) -> (Result<T, Failure>, Option<Failure>) {
        match self {
            Ok(value) => (Ok(value), None),
            Err(error) => {
                let failure = error.into_failure();
                (Err(failure.clone()), Some(failure))
            }
        }
    }
}

/// A future or closure that never returns: nothing to record, nothing to hand back. Without
/// this, `lc.spawn(async { loop { .. } })` would not compile in edition 2024 (the block's output
/// falls back to `!`, not `()`), and is denied by the never-type-fallback lint before it.
#[diagnostic::do_not_recommend]
impl Outcome for never::Never {
    type Joined = ();

    fn into_outcome(self) -> ((), Option<Failure>) {
        match self {}
    }
}

/// The never type `!`, named on stable Rust: `!` may be written only as a return type, but the
/// return type of `fn() -> !` can be named through a trait, and implemented for.
mod never {
    /// The return type of a function pointer.
    pub trait FnOutput {
        type Output;
    }

    impl<T> FnOutput for fn() -> T {
        type Output = T;
    }

    /// `!`.
    pub(super) type Never = <fn() -> ! as FnOutput>::Output;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<T, E> Sealed for Result<T, E> {}
    impl Sealed for super::never::Never {}
}

/// The message a panic carried, or a placeholder when it carried no string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// `Ok` unless `outcome` is a failure: a main function's, a hook's or a check's output reduced
/// to what the lifecycle records.
pub(crate) fn into_result(outcome: impl Outcome) -> Result<(), Failure> {
    match outcome.into_outcome().1 {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(&'static str, Option<Box<dyn Error + Send + Sync>>);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    /// What `anyhow`'s `{:#}` (and any printer that walks `source()`) prints.
    fn chain(error: &dyn Error) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(error) = cause {
            text = format!("{text}: {error}");
            cause = error.source();
        }
        text
    }

    #[test]
    fn plain_prints_the_message_alone_and_alternate_the_chain_each_cause_once() {
        let inner = Wrapper("No such file", None);
        let middle = Wrapper("reading app.toml", Some(Box::new(inner)));
        let failure = Failure::new(Wrapper("loading the config", Some(Box::new(middle))));
        assert_eq!(failure.to_string(), "loading the config");
        assert_eq!(
            format!("{failure:#}"),
            "loading the config: reading app.toml: No such file"
        );
        // A printer that walks the sources itself shows each cause once too.
        assert_eq!(
            chain(&failure),
            "loading the config: reading app.toml: No such file"
        );
        let boxed: Box<dyn Error + Send + Sync> = failure.into();
        assert_eq!(
            chain(&*boxed),
            "loading the config: reading app.toml: No such file"
        );
    }

    #[test]
    fn prints_the_whole_chain_once() {
        let inner = Wrapper("No such file", None);
        let middle = Wrapper("reading app.toml", Some(Box::new(inner)));
        let outer = Wrapper("loading the config", Some(Box::new(middle)));
        assert_eq!(
            format!("{:#}", Failure::new(outer)),
            "loading the config: reading app.toml: No such file"
        );
        // A message that already includes its cause does not repeat it.
        let inner = Wrapper("No such file", None);
        let outer = Wrapper("reading app.toml: No such file", Some(Box::new(inner)));
        assert_eq!(
            format!("{:#}", Failure::new(outer)),
            "reading app.toml: No such file"
        );
    }

    #[test]
    fn a_failure_is_an_error_whose_source_is_the_original_cause() {
        let inner = Wrapper("No such file", None);
        let outer = Wrapper("loading the config", Some(Box::new(inner)));
        let failure = Failure::new(outer);
        assert!(failure.downcast_ref::<Wrapper>().is_some());
        let cause = failure.source().expect("the original error's cause");
        assert_eq!(cause.to_string(), "No such file");
        assert!(cause.source().is_none());
        // Passed on with `?` and made a failure again (a task returning it): the same failure,
        // reading the same, not a failure in a failure.
        let boxed: Box<dyn Error + Send + Sync> = Box::new(failure.clone());
        let again = Failure::new(boxed);
        assert_eq!(format!("{again:#}"), "loading the config: No such file");
        assert!(again.downcast_ref::<Wrapper>().is_some());
        assert!(again.downcast_ref::<Failure>().is_none());
        let (_, recorded) = Err::<(), _>(again).into_outcome();
        assert_eq!(format!("{:#}", recorded.unwrap()), format!("{failure:#}"));
    }

    #[test]
    fn a_panic_is_recognisable_and_has_no_source() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let panic = Failure::panic(&*payload);
        assert!(panic.is_panic());
        assert!(panic.source().is_none());
        // Passed on with `?` from a parent task, still a panic.
        let boxed: Box<dyn Error + Send + Sync> = panic.into();
        assert!(Failure::new(boxed).is_panic());
        let message = Failure::new("panicked: boom");
        assert!(!message.is_panic());
    }

    #[test]
    fn panics_read_as_panicked() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(Failure::panic(&*payload).to_string(), "panicked: boom");
        let payload: Box<dyn Any + Send> = Box::new(7u8);
        assert_eq!(
            panic_message(&*payload),
            "a panic with a non-string payload"
        );
    }
}
