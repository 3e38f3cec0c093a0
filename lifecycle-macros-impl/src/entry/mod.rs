//! `#[lifecycle::main(...)]`: parse the arguments and the `async fn`, check its signature, and
//! write out the shutdown sequence around it.

pub(crate) mod args;
mod expand;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::errors::{with_errors, Errors};
use crate::item;
use crate::signature::{self, Role};
use args::MainArgs;

/// The whole macro: parse → validate → expand.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let main_args = MainArgs::parse(args, &mut errors);
    let misplaced = |found: &str| {
        format!(
            "`#[lifecycle::main]` goes on `async fn main`, or on another `async fn` that it \
             turns into a `lifecycle::App`; found {found}"
        )
    };
    let Some(function) = item::parse::<ItemFn>(item.clone(), misplaced, &mut errors) else {
        return with_errors(item, &errors);
    };
    let role = if function.sig.ident == "main" {
        Role::Main
    } else {
        Role::App
    };
    let expanded = match check_fn(&function, role, &mut errors) {
        Shape::Valid if role == Role::App => expand::app_fn(&main_args, &function),
        Shape::Valid => expand::main_fn(&main_args, &function),
        Shape::NotAsync => function.into_token_stream(),
        Shape::Invalid => expand::stub_fn(&function),
    };
    with_errors(expanded, &errors)
}

/// What the annotated function allows the expansion to do.
enum Shape {
    /// `async fn main()` or `async fn main(lc: Lifecycle)`, or an app's `async fn`: expand
    /// fully.
    Valid,
    /// A plain `fn`: emit it unchanged (it is a valid `main`) with the error.
    NotAsync,
    /// Anything else wrong: emit a stub `fn main() {}` with the errors.
    Invalid,
}

/// Checks the signature of the function under `#[lifecycle::main]`.
fn check_fn(item: &ItemFn, role: Role, errors: &mut Errors) -> Shape {
    let sig = &item.sig;
    // Problems that leave no valid `main` to emit, as opposed to a missing `async`.
    let mut problems = Errors::default();
    signature::check(sig, role, &mut problems);
    let invalid = !problems.is_empty();
    errors.append(problems);
    if sig.asyncness.is_none() {
        errors.add(
            sig.fn_token.span,
            format!(
                "`#[lifecycle::main]` needs an `async fn`; write `async fn {}`",
                sig.ident
            ),
        );
    }
    match (invalid, sig.asyncness.is_some()) {
        (true, _) => Shape::Invalid,
        (false, false) => Shape::NotAsync,
        (false, true) => Shape::Valid,
    }
}
