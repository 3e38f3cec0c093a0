//! `#[on_shutdown(...)]` and `#[persist(...)]`: their arguments and the signature a hook may have.
//! Shared by methods in a `#[lifecycle::component]` impl and by free functions.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::{Attribute, FnArg, Ident, ReturnType, Signature, Type};

use super::args::{self, Errors};
use super::duration::{self, Zero};
use super::item;

/// Which phase of the shutdown sequence a hook belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// Runs once, after the drain and the persist hooks, in ascending `order`.
    OnShutdown,
    /// Runs before the shutdown hooks (resources still open), and every `every` if set.
    Persist,
}

impl HookKind {
    /// The attribute's name, as in `#[on_shutdown]`.
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            HookKind::OnShutdown => "on_shutdown",
            HookKind::Persist => "persist",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            HookKind::OnShutdown => &["order", "timeout", "name"],
            HookKind::Persist => &["every", "timeout", "order", "name"],
        }
    }

    fn misplaced_keys(self) -> &'static [(&'static str, &'static str)] {
        const HOOK_TIMEOUT: (&str, &str) = (
            "hook_timeout",
            "a hook's own limit is `timeout = \"5s\"`; `hook_timeout` is the default for all \
             hooks, set on `#[lifecycle::main]`",
        );
        match self {
            HookKind::OnShutdown => &[
                (
                    "every",
                    "`every` is only for `#[persist]` hooks: a shutdown hook runs once; \
                     use `#[persist(every = \"10s\")]` to also run it periodically",
                ),
                HOOK_TIMEOUT,
            ],
            HookKind::Persist => &[HOOK_TIMEOUT],
        }
    }
}

/// A hook's arguments; `None` means the runtime default (order 0, the config's hook timeout,
/// the hook's path as its name, no periodic run).
#[derive(Default)]
pub(crate) struct HookArgs {
    pub(crate) order: Option<(i32, Span)>,
    pub(crate) timeout: Option<(Duration, Span)>,
    pub(crate) every: Option<(Duration, Span)>,
    pub(crate) name: Option<(String, Span)>,
}

impl HookArgs {
    /// Reads `order = N, timeout = "..", every = "..", name = ".."`; `attribute` is how the user
    /// wrote the attribute, for messages.
    pub(crate) fn parse(
        kind: HookKind,
        tokens: TokenStream,
        attribute: &str,
        errors: &mut Errors,
    ) -> HookArgs {
        let mut hook = HookArgs::default();
        let Some(list) = errors.check(args::parse_args(tokens)) else {
            return hook;
        };
        for arg in args::known_keys(&list, attribute, kind.keys(), kind.misplaced_keys(), errors) {
            match arg.name().as_str() {
                "order" => {
                    let order = arg.value("10").and_then(|value| {
                        let span = syn::spanned::Spanned::span(value);
                        args::order(value).map(|order| (order, span))
                    });
                    hook.order = errors.check(order);
                }
                "timeout" => {
                    hook.timeout = errors.check(duration::parse(arg, "5s", Zero::Rejected));
                }
                "every" => {
                    hook.every = errors.check(duration::parse(arg, "10s", Zero::Rejected));
                }
                "name" => hook.name = errors.check(name(arg)),
                _ => {}
            }
        }
        hook
    }
}

fn name(arg: &args::Arg) -> syn::Result<(String, Span)> {
    let lit = args::string(
        arg.value("\"close database\"")?,
        "name",
        "\"close database\"",
    )?;
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "empty `name`: give the hook a name to show in the report, or leave `name` out \
             to use its path",
        ));
    }
    Ok((value, lit.span()))
}

/// A checked hook function or method, ready to generate its `Hook`.
pub(crate) struct HookFn {
    pub(crate) kind: HookKind,
    pub(crate) args: HookArgs,
    pub(crate) ident: Ident,
    pub(crate) is_async: bool,
    /// The default display name after the module path: `"::Db::close"` or `"::flush"`.
    pub(crate) path_suffix: String,
    /// Where errors about the generated call (a `!Send` future, a result type that is not
    /// `HookResult`) should point: the method's name.
    pub(crate) span: Span,
    /// The function's `#[cfg(...)]` attributes, repeated on its registration so that a hook
    /// compiled out is not referred to.
    pub(crate) cfgs: Vec<Attribute>,
}

/// Where a hook function lives, which decides its receiver.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A method of a `#[lifecycle::component]` impl: `&self` and nothing else.
    Method,
    /// A free function: no parameters at all.
    Free,
}

/// Records every way `sig` is not a valid hook signature.
pub(crate) fn check_signature(sig: &Signature, place: Place, errors: &mut Errors) {
    let name = &sig.ident;
    if let Some(constness) = &sig.constness {
        errors.add(
            constness.span,
            format!("hook `{name}` cannot be `const`; remove `const`"),
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.add(
            unsafety.span,
            format!(
                "hook `{name}` cannot be `unsafe`: the runtime calls it as a safe function; \
                 remove `unsafe` and use an `unsafe` block inside"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            format!("hook `{name}` cannot be `extern`; remove the ABI"),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "hook `{name}` cannot be generic: the runtime calls it with no type arguments; \
                 remove the generic parameters"
            ),
        ));
    }
    check_inputs(sig, place, errors);
    if let ReturnType::Type(_, ty) = &sig.output {
        if !item::is_unit_or_result(ty) {
            errors.push(syn::Error::new_spanned(
                ty,
                format!(
                    "hook `{name}` must return nothing, `()` or a `Result<(), E>`; \
                     change the return type"
                ),
            ));
        }
    }
}

fn check_inputs(sig: &Signature, place: Place, errors: &mut Errors) {
    let name = &sig.ident;
    let mut inputs = sig.inputs.iter();
    if place == Place::Method {
        match sig.inputs.first() {
            Some(FnArg::Receiver(receiver)) => {
                inputs.next();
                if let Some(message) = receiver_problem(name, receiver) {
                    errors.push(syn::Error::new_spanned(receiver, message));
                }
            }
            _ => {
                errors.add(
                    sig.paren_token.span.join(),
                    format!(
                        "hook `{name}` needs a `&self` receiver and no other parameters: \
                         write `fn {name}(&self)`"
                    ),
                );
                return;
            }
        }
    }
    for input in inputs {
        let message = match (place, input) {
            (Place::Free, FnArg::Receiver(_)) => format!(
                "hook `{name}` has a `self` receiver; hooks on methods need \
                 `#[lifecycle::component]` on their impl block"
            ),
            (Place::Free, FnArg::Typed(_)) => format!(
                "hook `{name}` takes no parameters: the runtime calls `{name}()`; \
                 remove this parameter"
            ),
            (Place::Method, _) => format!(
                "hook `{name}` takes only `&self`: the runtime calls `{name}()` on the \
                 managed value; remove this parameter"
            ),
        };
        errors.push(syn::Error::new_spanned(input, message));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("hook `{name}` cannot be variadic; remove `...`"),
        ));
    }
}

/// Why a receiver is not `&self`, if it is not.
fn receiver_problem(name: &Ident, receiver: &syn::Receiver) -> Option<String> {
    let mutable = || {
        format!(
            "hook `{name}` takes `&mut self`, but hooks share the component (and hooks of equal \
             order run at once): take `&self` and keep mutable state behind a `Mutex`"
        )
    };
    let other = || {
        format!("hook `{name}` must take `&self`, found a `self` of another type; write `&self`")
    };
    match &receiver.kind {
        syn::ReceiverKind::Reference(_, _, Some(_)) => Some(mutable()),
        syn::ReceiverKind::Reference(_, _, None) => None,
        syn::ReceiverKind::Value => Some(format!(
            "hook `{name}` takes `self` by value, but the component is shared and a persist \
             hook may run many times: take `&self`"
        )),
        syn::ReceiverKind::Typed(_, ty) => match &**ty {
            Type::Reference(reference) if reference.mutability.is_some() => Some(mutable()),
            Type::Reference(reference) if is_self(&reference.elem) => None,
            _ => Some(other()),
        },
        _ => Some(other()),
    }
}

fn is_self(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.qself.is_none() && path.path.is_ident("Self"),
        _ => false,
    }
}
