//! Failures as the report keeps them: the error itself, shared, printed with its whole
//! `source()` chain.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error returned by the main future, a hook or a tracked task, kept whole.
///
/// The report prints it with [`Display`](fmt::Display) followed by every error of its
/// [`source`](Error::source) chain, joined by `: `, so the cause survives: a task failing with
/// "loading the config" caused by a missing file reads `loading the config: No such file or
/// directory (os error 2)`. A cause whose text the message before it already contains is not
/// repeated. The error is shared, not copied: [`downcast_ref`](Failure::downcast_ref) reaches
/// the original value.
///
/// Anything that converts into `Box<dyn Error + Send + Sync>` becomes a `Failure`: every
/// `Error + Send + Sync` type, `String`, `&str`, and the error types of `anyhow` and `eyre`.
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
/// assert_eq!(failure.to_string(), "loading the config: no file `app.toml`");
/// assert!(failure.downcast_ref::<LoadConfig>().is_some());
/// assert_eq!(Failure::new("disk full").to_string(), "disk full");
/// ```
#[derive(Clone)]
pub struct Failure(Arc<dyn Error + Send + Sync + 'static>);

impl Failure {
    /// Wraps an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = lifecycle::Failure::new(format!("{} jobs lost", 3));
    /// assert_eq!(failure.to_string(), "3 jobs lost");
    /// ```
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        Self(Arc::from(error.into()))
    }

    /// The error itself.
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = lifecycle::Failure::new(std::io::Error::other("broker gone"));
    /// assert_eq!(failure.error().to_string(), "broker gone");
    /// assert!(failure.error().source().is_none());
    /// ```
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
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
        self.0.downcast_ref::<E>()
    }

    /// A failure made of a caught panic, as `panicked: <message>`.
    pub(crate) fn panic(payload: &(dyn Any + Send)) -> Self {
        Self::panicked(&panic_message(payload))
    }

    /// A failure made of a panic's message, as `panicked: <message>`.
    pub(crate) fn panicked(message: &str) -> Self {
        Self::new(format!("panicked: {message}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
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
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Failure")
            .field(&format_args!("{self}"))
            .finish()
    }
}

/// Two failures are equal when they read the same.
impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for Failure {}

/// An error type the report can keep: anything that converts into
/// `Box<dyn Error + Send + Sync>`. The bound on the error of every hook, task and main function.
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
    message = "`{Self}` cannot be kept as a lifecycle failure: the error type must convert into `Box<dyn std::error::Error + Send + Sync>`",
    label = "this error type",
    note = "every `Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `anyhow::Error` and `eyre::Report`; a type with only `Debug` or `Display` needs an `impl std::error::Error`"
)]
pub trait IntoFailure {
    /// Wraps the error.
    fn into_failure(self) -> Failure;
}

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
    note = "every `Error + Send + Sync + 'static` type converts, and so do `String`, `&str`, `anyhow::Error` and `eyre::Report`; for a boxed error use `Box<dyn std::error::Error + Send + Sync>`; to hand a value back from a task, return `Ok(value)`"
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
    pub type Never = <fn() -> ! as FnOutput>::Output;
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

    #[test]
    fn prints_the_whole_chain_once() {
        let inner = Wrapper("No such file", None);
        let middle = Wrapper("reading app.toml", Some(Box::new(inner)));
        let outer = Wrapper("loading the config", Some(Box::new(middle)));
        assert_eq!(
            Failure::new(outer).to_string(),
            "loading the config: reading app.toml: No such file"
        );
        // A message that already includes its cause does not repeat it.
        let inner = Wrapper("No such file", None);
        let outer = Wrapper("reading app.toml: No such file", Some(Box::new(inner)));
        assert_eq!(
            Failure::new(outer).to_string(),
            "reading app.toml: No such file"
        );
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
