//! What the code `#[lifecycle::component]` generates calls: a component's methods turned into
//! [`Hook`]s and [`Run`]s. Re-exported in `lifecycle::__private`, hidden from the docs.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::failure::Outcome;
use crate::hooks::{Component, Hook, HookKind};
use crate::tasks::run::Run;
use tokio_util::sync::CancellationToken;

/// An `async fn(&self)` method as a value: `Self::close`, whose future borrows the component.
/// Implemented for every such function; the associated types name its future and output for
/// each lifetime of the borrow.
pub trait AsyncMethod<'a, T: ?Sized + 'a>: Fn(&'a T) -> Self::Future {
    /// The future the method returns, borrowing the component for `'a`.
    type Future: Future<Output = Self::Out> + Send + 'a;
    /// What the future yields.
    type Out;
}

impl<'a, T, F, Fut> AsyncMethod<'a, T> for F
where
    T: ?Sized + 'a,
    F: Fn(&'a T) -> Fut,
    Fut: Future + Send + 'a,
{
    type Future = Fut;
    type Out = Fut::Output;
}

/// A component's hook methods, bound to one managed value or declared for the budget printed
/// before start-up: what the generated [`Component::add_hooks`] adds its hooks to, once for both
/// uses ([`bound`], [`declared`]).
///
/// A hook's name is given below the module the component is in (`"Db::close"` is shown as
/// `my_service::Db::close`), unless [`Added::with_name`] replaces it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lifecycle::__private::Bind;
/// use lifecycle::hooks::HookKind;
///
/// struct Db;
/// impl Db {
///     async fn close(&self) {}
///     fn save(&self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let mut db = Bind::new(Arc::new(Db), "my_service");
/// db.add(HookKind::Shutdown, "Db::close", Db::close).with_order(100);
/// db.add_blocking(HookKind::Persist, "Db::save", Db::save)
///     .with_timeout(Duration::from_secs(2))
///     .with_name("save");
/// let hooks = db.into_hooks();
/// assert_eq!((hooks[0].kind(), hooks[0].name(), hooks[0].order()), (HookKind::Shutdown, "my_service::Db::close", 100));
/// assert_eq!((hooks[1].name(), hooks[1].timeout()), ("save", Some(Duration::from_secs(2))));
/// ```
pub struct Bind<T: ?Sized> {
    /// The value and the module path names are given below; `None` when declared: the hooks get
    /// bodies that do nothing, and their names are not read.
    bound: Option<(Arc<T>, &'static str)>,
    hooks: Vec<Hook>,
}

impl<T: ?Sized> Bind<T> {
    /// The methods of `this`, declared in `module`: each hook holds its own clone of the `Arc`,
    /// and clones it again for each run, so an async hook's future is `'static`.
    pub fn new(this: Arc<T>, module: &'static str) -> Self {
        Self {
            bound: Some((this, module)),
            hooks: Vec::new(),
        }
    }

    /// The methods of no value: hooks with their kind, order and timeout, and bodies that do
    /// nothing. What [`declared`] hands to the budget; never run.
    pub fn declared() -> Self {
        Self {
            bound: None,
            hooks: Vec::new(),
        }
    }

    /// The hooks added, in the order they were.
    pub fn into_hooks(self) -> Vec<Hook> {
        self.hooks
    }

    fn name(&self, name: &'static str) -> Cow<'static, str> {
        match self.bound {
            Some((_, module)) => Cow::Owned(format!("{module}::{name}")),
            None => Cow::Borrowed(name),
        }
    }

    fn push(&mut self, hook: Hook) -> Added<'_> {
        self.hooks.push(hook);
        Added {
            hooks: &mut self.hooks,
        }
    }

    /// Adds a hook of `kind` ([`Hook::new`]) calling the `async fn(&self)` `method` on the value.
    pub fn add<M, O>(&mut self, kind: HookKind, name: &'static str, method: M) -> Added<'_>
    where
        T: Send + Sync + 'static,
        M: for<'a> AsyncMethod<'a, T, Out = O> + Copy + Send + Sync + 'static,
        O: Outcome,
    {
        let name = self.name(name);
        let hook = match &self.bound {
            None => Hook::new(kind, name, || async {}),
            Some((this, _)) => {
                let this = Arc::clone(this);
                Hook::new(kind, name, move || {
                    let this = Arc::clone(&this);
                    async move { method(&this).await }
                })
            }
        };
        self.push(hook)
    }

    /// Adds a hook of `kind` ([`Hook::blocking`]) calling the `fn(&self)` `method` on the value.
    pub fn add_blocking<M, R>(&mut self, kind: HookKind, name: &'static str, method: M) -> Added<'_>
    where
        T: Send + Sync + 'static,
        M: Fn(&T) -> R + Send + Sync + 'static,
        R: Outcome,
    {
        let name = self.name(name);
        let hook = match &self.bound {
            None => Hook::blocking(kind, name, || {}),
            Some((this, _)) => {
                let this = Arc::clone(this);
                Hook::blocking(kind, name, move || method(&this))
            }
        };
        self.push(hook)
    }
}

/// The hook just added to a [`Bind`], to set what the attribute says with [`Hook`]'s builder.
pub struct Added<'a> {
    /// Its last hook is the one added.
    hooks: &'a mut Vec<Hook>,
}

impl Added<'_> {
    fn map(self, set: impl FnOnce(Hook) -> Hook) -> Self {
        if let Some(hook) = self.hooks.pop() {
            self.hooks.push(set(hook));
        }
        self
    }

    /// [`Hook::with_order`].
    pub fn with_order(self, order: i32) -> Self {
        self.map(|hook| hook.with_order(order))
    }

    /// [`Hook::with_timeout`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.map(|hook| hook.with_timeout(timeout))
    }

    /// [`Hook::with_every`].
    pub fn with_every(self, period: Duration) -> Self {
        self.map(|hook| hook.with_every(period))
    }

    /// The name the user gave (`#[on_shutdown(name = "pool")]`), as given.
    pub fn with_name(self, name: &'static str) -> Self {
        self.map(|mut hook| {
            hook.name = Cow::Borrowed(name);
            hook
        })
    }
}

/// The hooks of `this`, a component declared in `module`: its [`Component::add_hooks`] bound to it.
/// What the generated [`Component::hooks`] returns.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lifecycle::__private::bound;
///
/// struct Db;
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_shutdown(order = 100)]
///     async fn close(&self) {}
/// }
///
/// let hooks = bound(Arc::new(Db), "my_service");
/// assert_eq!((hooks[0].name(), hooks[0].order()), ("my_service::Db::close", 100));
/// ```
pub fn bound<C: Component>(this: Arc<C>, module: &'static str) -> Vec<Hook> {
    let mut bind = Bind::new(this, module);
    C::add_hooks(&mut bind);
    bind.into_hooks()
}

/// The hooks of component `C` as the budget printed before start-up reads them: its
/// [`Component::add_hooks`] bound to no value ([`Bind::declared`]).
///
/// # Examples
///
/// ```
/// use lifecycle::__private::declared;
///
/// struct Db;
///
/// #[lifecycle::component]
/// impl Db {
///     #[on_shutdown(order = 100)]
///     async fn close(&self) {}
/// }
///
/// let hooks = declared::<Db>();
/// assert_eq!(hooks[0].order(), 100);
/// ```
pub fn declared<C: Component>() -> Vec<Hook> {
    let mut bind = Bind::declared();
    C::add_hooks(&mut bind);
    bind.into_hooks()
}

/// A component's `#[run]` method as a [`Run`]'s function: each attempt calls `method` with its
/// own clone of the component's `Arc` and the stage's token.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lifecycle::__private::{bind_run, Run};
/// use lifecycle::CancellationToken;
///
/// struct Consumer;
/// impl Consumer {
///     async fn consume(&self, token: CancellationToken) { token.cancelled().await }
/// }
///
/// let consumer = Arc::new(Consumer);
/// let run = Run::new("consume", bind_run(&consumer, |this, token| async move {
///     Consumer::consume(&this, token).await
/// }));
/// # let _ = run;
/// ```
pub fn bind_run<T, R>(
    this: &Arc<T>,
    method: impl Fn(Arc<T>, CancellationToken) -> R + Send + Sync + 'static,
) -> impl Fn(CancellationToken) -> R + Send + Sync + 'static
where
    T: ?Sized + Send + Sync + 'static,
{
    let this = Arc::clone(this);
    move |token| method(Arc::clone(&this), token)
}

/// The long-running parts a component hands over (the return type of [`Component::runs`]).
pub type Runs = Vec<Run>;

/// The hooks a component hands over (the return type of [`Component::hooks`]).
pub type Hooks = Vec<Hook>;

/// Every free function marked `#[lifecycle::on_shutdown]` or `#[lifecycle::persist]` in the
/// binary, collected at link time.
#[linkme::distributed_slice]
pub static FREE_HOOKS: [fn() -> Hook];

/// The hooks of every (non-generic) `#[lifecycle::component]` impl in the binary, with bodies
/// that do nothing (each [`declared`]): what the budget printed before start-up counts.
#[linkme::distributed_slice]
pub static COMPONENT_HOOKS: [fn() -> Hooks];
