//! `#[check(every = "5s", timeout = "1s", failures = 3, name = "postgres")]` on a component method: a
//! readiness check, added by `lc.manage(..)` and run once the service is Ready. Parse → validate
//! → expand for that one attribute.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Attribute, FnArg, ImplItemFn, Meta};

use crate::args;
use crate::duration::{self, Zero};
use crate::errors::Errors;
use crate::item;

const KEYS: &[&str] = &["every", "timeout", "failures", "name"];

/// A checked `#[check]` method, ready to generate its `Check`.
pub(crate) struct CheckFn {
    ident: syn::Ident,
    every: Option<Duration>,
    timeout: Option<Duration>,
    /// The failure threshold, 1 or more.
    failures: Option<u32>,
    /// The name in `/ready`'s body: given, or `Type::method`.
    name: String,
    span: Span,
    cfgs: Vec<Attribute>,
}

/// Whether `attr` is `#[check]` or `#[lifecycle::check]`.
pub(crate) fn is_check(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    match segments.as_slice() {
        [last] => last == "check",
        [krate, last] => krate == "lifecycle" && last == "check",
        _ => false,
    }
}

/// Checks one method marked `#[check]` (its first such attribute is `attr`); every problem goes
/// to `errors`.
pub(crate) fn analyze(
    method: &ImplItemFn,
    attr: &Attribute,
    type_name: &str,
    errors: &mut Errors,
) -> Option<CheckFn> {
    let mut check_errors = Errors::default();
    let mut check = CheckFn {
        ident: method.sig.ident.clone(),
        every: None,
        timeout: None,
        failures: None,
        name: format!("{type_name}::{}", item::unraw(&method.sig.ident)),
        span: item::located_at(method.sig.ident.span()),
        cfgs: item::cfg_attrs(&method.attrs),
    };
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => parse_args(list.tokens.clone(), &mut check, &mut check_errors),
        Meta::NameValue(name_value) => check_errors.push(syn::Error::new_spanned(
            name_value,
            "expected `#[check]` or `#[check(every = \"5s\", timeout = \"1s\", failures = 3)]`",
        )),
    }
    check_signature(method, &mut check_errors);
    let ok = check_errors.is_empty();
    errors.append(check_errors);
    ok.then_some(check)
}

fn parse_args(tokens: TokenStream, check: &mut CheckFn, errors: &mut Errors) {
    let Some(list) = errors.check(args::parse_args(tokens)) else {
        return;
    };
    let misplaced: &[(&str, &str)] = &[(
        "order",
        "readiness checks run side by side, each on its own period: `#[check]` has no `order`",
    )];
    let known = args::known_keys(&list, "#[check]", KEYS, misplaced, errors);
    for arg in known {
        match arg.name().as_str() {
            "every" => {
                check.every = errors
                    .check(duration::parse(arg, "5s", Zero::Rejected))
                    .map(|(value, _)| value);
            }
            "timeout" => {
                check.timeout = errors
                    .check(duration::parse(arg, "1s", Zero::Rejected))
                    .map(|(value, _)| value);
            }
            "failures" => check.failures = errors.check(failures(arg)),
            "name" => {
                if let Some(name) = errors.check(name(arg)) {
                    check.name = name;
                }
            }
            _ => {}
        }
    }
}

/// `failures = N`: an integer literal from 1 to `u32::MAX`, the runs in a row that must fail.
fn failures(arg: &args::Arg) -> syn::Result<u32> {
    args::count(
        arg,
        "3",
        "expected a whole number like `failures = 3` for `failures` (the failed runs in a row \
         that make the check fail)",
        "`failures = 0` is no threshold: the check fails after `failures` failed runs in a \
         row, at least 1; write `failures = 1` (the default: the first failed run) or more",
    )
}

fn name(arg: &args::Arg) -> syn::Result<String> {
    let lit = args::string(arg.value("\"postgres\"")?, "name", "\"postgres\"")?;
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "empty `name`: give the check the name `/ready` shows, or leave `name` out to use \
             `Type::method`",
        ));
    }
    Ok(value)
}

/// `async fn name(&self)`, returning `()` or a `Result<(), E>`.
fn check_signature(method: &ImplItemFn, errors: &mut Errors) {
    let sig = &method.sig;
    let name = &sig.ident;
    let shape = format!("`async fn {name}(&self) -> Result<(), E>`");
    if sig.asyncness.is_none() {
        errors.add(
            sig.fn_token.span,
            format!(
                "`#[check]` method `{name}` must be `async`: each run is bounded by its \
                 `timeout`; write {shape}"
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "`#[check]` method `{name}` cannot be generic: the runtime calls it with no type \
                 arguments"
            ),
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if matches!(receiver.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(receiver)) => errors.push(syn::Error::new_spanned(
            receiver,
            format!(
                "`#[check]` method `{name}` must take `&self`: the component is shared with its \
                 hooks; write {shape}"
            ),
        )),
        _ => {
            errors.add(
                sig.paren_token.span.join(),
                format!("`#[check]` method `{name}` needs `&self`: write {shape}"),
            );
            return;
        }
    }
    for extra in inputs {
        errors.push(syn::Error::new_spanned(
            extra,
            format!("`#[check]` method `{name}` takes only `&self`; remove this parameter"),
        ));
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        if !crate::signature::is_unit_or_result(ty) {
            errors.push(syn::Error::new_spanned(
                ty,
                format!(
                    "`#[check]` method `{name}` must return `Result<(), E>` (or nothing): `Err` \
                     is the reason `/ready` gives"
                ),
            ));
        }
    }
}

/// `fn checks(self: Arc<Self>, checks: Checks<'_>)` for the `impl Component`, one
/// `checks.check(name)...run(..)` a method as by hand, or nothing when the impl has no
/// `#[check]` method (the trait's default adds none).
pub(crate) fn checks_fn(checks: &[CheckFn]) -> TokenStream {
    if checks.is_empty() {
        return TokenStream::new();
    }
    let adds = checks.iter().map(|check| {
        let method = &check.ident;
        let name = &check.name;
        let every = check.every.map(|every| {
            let every = duration::to_tokens(every);
            quote!(.every(#every))
        });
        let timeout = check.timeout.map(|timeout| {
            let timeout = duration::to_tokens(timeout);
            quote!(.timeout(#timeout))
        });
        let failures = check.failures.map(|failures| {
            let failures = proc_macro2::Literal::u32_unsuffixed(failures);
            quote!(.failures(#failures))
        });
        let cfgs = &check.cfgs;
        let added = quote_spanned! {check.span=>
            checks.check(#name) #every #timeout #failures .run({
                let this = ::std::sync::Arc::clone(&self);
                move || {
                    let this = ::std::sync::Arc::clone(&this);
                    async move { Self::#method(&this).await }
                }
            })
        };
        quote!(#(#cfgs)* #added;)
    });
    quote! {
        fn checks(
            self: ::std::sync::Arc<Self>,
            checks: ::lifecycle::__private::Checks<'_>,
        ) {
            let _ = checks; // used by no check when `#[cfg]` leaves none
            #(#adds)*
        }
    }
}
