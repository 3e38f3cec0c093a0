//! The one signature check shared by every attribute that goes on a function: what `main`, a
//! free hook and a hook method may be. Each problem is its own error on the tightest token.

use syn::{FnArg, Ident, ReturnType, Signature, Type};

use crate::errors::Errors;

/// Which function is being checked, which decides its parameters and the wording.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `async fn main` under `#[lifecycle::main]`: no parameter, or the `lifecycle::Lifecycle`.
    Main,
    /// Another function under `#[lifecycle::main]`, which becomes `fn(..) -> lifecycle::App`:
    /// the `lifecycle::Lifecycle` first, then the parameters of the function it becomes.
    App,
    /// A free `#[lifecycle::on_shutdown]` or `#[lifecycle::persist]` function: no parameters.
    FreeHook,
    /// A hook method of a `#[lifecycle::component]` impl: `&self` and nothing else.
    MethodHook,
}

/// Records every way `sig` does not fit `role`. The `async` keyword is not checked here: a hook
/// may be either, and `main` handles a missing one itself (it can still emit the function).
pub(crate) fn check(sig: &Signature, role: Role, errors: &mut Errors) {
    let name = &sig.ident;
    let subject = match role {
        Role::Main | Role::App => format!("`{name}`"),
        Role::FreeHook | Role::MethodHook => format!("hook `{name}`"),
    };
    if let Some(constness) = &sig.constness {
        errors.add(
            constness.span,
            format!("{subject} cannot be `const`; remove `const`"),
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        let message = match role {
            Role::Main | Role::App => format!("{subject} cannot be `unsafe`; remove `unsafe`"),
            Role::FreeHook | Role::MethodHook => format!(
                "{subject} cannot be `unsafe`: the runtime calls it as a safe function; \
                 remove `unsafe` and use an `unsafe` block inside"
            ),
        };
        errors.add(unsafety.span, message);
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            format!("{subject} cannot be `extern`; remove the ABI"),
        ));
    }
    if !sig.generics.params.is_empty() {
        let reason = match role {
            Role::Main | Role::App => "nothing would choose the type arguments",
            Role::FreeHook | Role::MethodHook => "the runtime calls it with no type arguments",
        };
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("{subject} cannot be generic: {reason}; remove the generic parameters"),
        ));
    }
    let receiver_missing = match role {
        Role::Main | Role::App => {
            main_inputs(sig, role, errors);
            false
        }
        Role::FreeHook | Role::MethodHook => hook_inputs(sig, role, errors),
    };
    if let Some(variadic) = sig.variadic.as_ref().filter(|_| !receiver_missing) {
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("{subject} cannot be variadic; remove `...`"),
        ));
    }
    if !matches!(role, Role::Main | Role::App) {
        if let ReturnType::Type(_, ty) = &sig.output {
            if !is_unit_or_result(ty) {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!(
                        "{subject} must return nothing, `()` or a `Result<(), E>`; \
                         change the return type"
                    ),
                ));
            }
        }
    }
}

/// `main` takes nothing, or one `lifecycle::Lifecycle` by value (the type itself is left to the
/// compiler: the expansion passes a `Lifecycle` there); an app takes more after it.
fn main_inputs(sig: &Signature, role: Role, errors: &mut Errors) {
    let name = &sig.ident;
    for (index, input) in sig.inputs.iter().enumerate() {
        let message = match input {
            FnArg::Receiver(_) => format!(
                "`#[lifecycle::main]` goes on a free `async fn`, but `{name}` takes `self`; \
                 remove it, or take `lc: lifecycle::Lifecycle`"
            ),
            FnArg::Typed(param) if index > 0 && role == Role::App => {
                let borrowed = |reference: &syn::TypeReference| {
                    reference
                        .lifetime
                        .as_ref()
                        .is_none_or(|lifetime| lifetime.ident != "static")
                };
                if let Type::Reference(reference) = &*param.ty {
                    if !borrowed(reference) {
                        continue;
                    }
                    errors.add(
                        reference.and_token.span,
                        format!(
                            "`{name}` becomes `fn(..) -> lifecycle::App`, which keeps its \
                             parameters until the app runs: take an owned value here (`String` \
                             for `&str`, an `Arc` to share)"
                        ),
                    );
                }
                continue;
            }
            FnArg::Typed(_) if index > 0 => format!(
                "`{name}` takes at most one parameter, the `lifecycle::Lifecycle`; remove this \
                 one, or pass it to a function not named `main` under the attribute, which \
                 becomes `fn(..) -> lifecycle::App` (see `lifecycle::App`)"
            ),
            FnArg::Typed(param) => {
                let borrowed = |reference: &syn::TypeReference| {
                    reference
                        .lifetime
                        .as_ref()
                        .is_none_or(|lifetime| lifetime.ident != "static")
                };
                if let Type::Reference(reference) = &*param.ty {
                    if !borrowed(reference) {
                        continue;
                    }
                    errors.add(
                        reference.and_token.span,
                        format!(
                            "`{name}` takes the `lifecycle::Lifecycle` by value, found a \
                             reference; write `lc: lifecycle::Lifecycle` (it is a handle, \
                             cheap to clone)"
                        ),
                    );
                }
                continue;
            }
        };
        errors.push(syn::Error::new_spanned(input, message));
    }
}

/// A hook takes `&self` (a method) or nothing (a free function). Returns whether a method's
/// receiver is missing, in which case nothing else about its parameters is reported.
fn hook_inputs(sig: &Signature, role: Role, errors: &mut Errors) -> bool {
    let name = &sig.ident;
    let mut inputs = sig.inputs.iter();
    if role == Role::MethodHook {
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
                return true;
            }
        }
    }
    for input in inputs {
        let message = match (role, input) {
            (Role::FreeHook, FnArg::Receiver(_)) => format!(
                "hook `{name}` has a `self` receiver; hooks on methods need \
                 `#[lifecycle::component]` on their impl block"
            ),
            (Role::FreeHook, FnArg::Typed(_)) => format!(
                "hook `{name}` takes no parameters: the runtime calls `{name}()`; \
                 remove this parameter"
            ),
            (_, _) => format!(
                "hook `{name}` takes only `&self`: the runtime calls `{name}()` on the \
                 managed value; remove this parameter"
            ),
        };
        errors.push(syn::Error::new_spanned(input, message));
    }
    false
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

/// `()`, `std::io::Result<()>`, `Result<(), E>`, `fmt::Result`: the return types a hook may
/// declare. The type system checks the rest (`Outcome`); this only catches the obvious
/// mistakes early with a readable message.
pub(crate) fn is_unit_or_result(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(inner) => is_unit_or_result(&inner.elem),
        Type::Group(inner) => is_unit_or_result(&inner.elem),
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident.to_string().ends_with("Result"))
        }
        _ => false,
    }
}
