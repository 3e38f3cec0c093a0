//! `#[run(stage = N, restart = "on-failure", max_restarts = 5, backoff = "100ms")]` on a
//! component method: its long-running part, spawned by `lc.manage(..)` in its stop stage and
//! supervised. Parse → validate → expand for that one attribute.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Attribute, Expr, ExprLit, ExprUnary, FnArg, ImplItemFn, Lit, Meta, UnOp};

use crate::args::{self, Arg};
use crate::duration::{self, Zero};
use crate::errors::Errors;
use crate::item;

const KEYS: &[&str] = &["stage", "restart", "max_restarts", "backoff", "name"];
const RESTARTS: &[&str] = &["on-failure", "never"];

/// A checked `#[run]` method, ready to generate its `Run`.
pub(crate) struct RunFn {
    ident: syn::Ident,
    /// A literal checked here, or a constant's path (`stage = WRITER`) the compiler checks.
    stage: Option<TokenStream>,
    /// `Some(max_restarts)` for `restart = "on-failure"`.
    restart: Option<u32>,
    backoff: Option<Duration>,
    name: Option<String>,
    path_suffix: String,
    span: Span,
    /// The token parameter's type: a wrong type is reported there.
    token_span: Span,
    cfgs: Vec<Attribute>,
}

/// `#[lifecycle::run]` expanded by itself: always an error, since `#[lifecycle::component]` reads
/// (and removes) every `#[run]` of its impl block before the compiler would expand it. The item
/// is emitted unchanged, so nothing else is reported.
pub(crate) fn outside_component(item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let found = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(function)) if function.sig.receiver().is_some() => None,
        Ok(syn::Item::Fn(_)) => Some("a free function"),
        Ok(syn::Item::Verbatim(_)) | Err(_) => Some("an item that is not a method"),
        Ok(other) => Some(item::describe(&other).0),
    };
    let message = match found {
        None => "`#[lifecycle::run]` on a method needs `#[lifecycle::component]` on its impl \
                 block, which spawns the method as each managed value's long-running part"
            .to_owned(),
        Some(found) => format!(
            "`#[lifecycle::run]` goes on an `async fn` method of a `#[lifecycle::component]` \
             impl block, found {found}; to run a function of your own as a task, spawn it: \
             `lc.task(\"name\").spawn(future)`"
        ),
    };
    errors.add(Span::call_site(), message);
    crate::errors::with_errors(item, &errors)
}

/// Whether `attr` is `#[run]` or `#[lifecycle::run]`.
pub(crate) fn is_run(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    matches!(segments.as_slice(), [last] | [_, last] if last == "run")
        && (segments.len() == 1 || segments[0] == "lifecycle")
}

/// Checks one method marked `#[run]` (its first such attribute is `attr`); every problem goes
/// to `errors`.
pub(crate) fn analyze(
    method: &ImplItemFn,
    attr: &Attribute,
    type_name: &str,
    errors: &mut Errors,
) -> Option<RunFn> {
    let mut run_errors = Errors::default();
    let mut run = RunFn {
        ident: method.sig.ident.clone(),
        stage: None,
        restart: None,
        backoff: None,
        name: None,
        path_suffix: format!("::{type_name}::{}", item::unraw(&method.sig.ident)),
        span: item::located_at(method.sig.ident.span()),
        token_span: match method.sig.inputs.iter().nth(1) {
            Some(FnArg::Typed(param)) => item::located_at(syn::spanned::Spanned::span(&param.ty)),
            _ => item::located_at(method.sig.ident.span()),
        },
        cfgs: item::cfg_attrs(&method.attrs),
    };
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => parse_args(list.tokens.clone(), &mut run, &mut run_errors),
        Meta::NameValue(name_value) => run_errors.push(syn::Error::new_spanned(
            name_value,
            "expected `#[run]` or `#[run(stage = 1, ...)]`",
        )),
    }
    check_signature(method, &mut run_errors);
    let ok = run_errors.is_empty();
    errors.append(run_errors);
    ok.then_some(run)
}

fn parse_args(tokens: TokenStream, run: &mut RunFn, errors: &mut Errors) {
    let Some(list) = errors.check(args::parse_args(tokens)) else {
        return;
    };
    let misplaced: &[(&str, &str)] = &[
        (
            "order",
            "`#[run]` parts are ordered by `stage`, not `order`: `stage = 1` stops after \
             stage 0 has drained",
        ),
        (
            "timeout",
            "a `#[run]` part runs until its stage is cancelled; it has no `timeout`",
        ),
    ];
    let known = args::known_keys(&list, "#[run]", KEYS, misplaced, errors);
    let mut restart: Option<(bool, Span)> = None;
    let mut max_restarts: Option<(u32, Span)> = None;
    let mut backoff_span = None;
    // A key given with a bad value has its own error: the checks between keys skip it.
    let given = |key: &str| list.iter().any(|arg| arg.name() == key);
    for arg in known {
        match arg.name().as_str() {
            "stage" => run.stage = errors.check(stage(arg)),
            "restart" => restart = errors.check(restart_policy(arg)),
            "max_restarts" => max_restarts = errors.check(max_restarts_value(arg)),
            "backoff" => {
                if let Some((value, _)) =
                    errors.check(duration::parse(arg, "100ms", Zero::Rejected))
                {
                    run.backoff = Some(value);
                    backoff_span = Some(arg.key.span());
                }
            }
            "name" => run.name = errors.check(name(arg)),
            _ => {}
        }
    }
    let on_failure = matches!(restart, Some((true, _)));
    let restart_unreadable = restart.is_none() && given("restart");
    for (key, span) in [
        ("max_restarts", max_restarts.map(|(_, s)| s)),
        ("backoff", backoff_span),
    ] {
        if let (Some(span), false, false) = (span, on_failure, restart_unreadable) {
            errors.add(
                span,
                format!(
                    "`{key}` applies only to a part restarted on failure; add \
                     `restart = \"on-failure\"`, or remove `{key}`"
                ),
            );
        }
    }
    match (restart, max_restarts) {
        (Some((true, _)), Some((max, _))) => run.restart = Some(max),
        (Some((true, span)), None) if !given("max_restarts") => errors.add(
            span,
            "`restart = \"on-failure\"` needs a bound: add `max_restarts = 5` (after that many \
             restarts the next failure shuts the service down)",
        ),
        _ => {}
    }
}

/// `stage = N`: an integer literal from 0 to 255, or the path of a `lifecycle::tasks::Stage`
/// constant (its type is checked where it is used, on its span).
fn stage(arg: &Arg) -> syn::Result<TokenStream> {
    let value = arg.value("1")?;
    let out_of_range = |shown: String| {
        syn::Error::new_spanned(
            value,
            format!(
                "`stage = {shown}` is out of range: stages are numbered from 0 to 255, \
                 stopped in ascending order"
            ),
        )
    };
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            if !matches!(lit.suffix(), "" | "u8") {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "`stage` is a `u8`, found the suffix `{}`; write `stage = {}`",
                        lit.suffix(),
                        lit.base10_digits()
                    ),
                ));
            }
            let stage = lit
                .base10_parse::<u8>()
                .map_err(|_| out_of_range(lit.base10_digits().to_owned()))?;
            Ok(quote!(#stage))
        }
        Expr::Path(path) if path.qself.is_none() => Ok(quote!(#path)),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_),
                ..
            })
        ) =>
        {
            Err(out_of_range(
                args::found(value).trim_matches('`').to_owned(),
            ))
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected an integer like `stage = 1` (or a `Stage` constant) for `stage`, \
                 found {}",
                args::found(other)
            ),
        )),
    }
}

/// `restart = "on-failure"` (true) or `"never"` (false).
fn restart_policy(arg: &Arg) -> syn::Result<(bool, Span)> {
    let lit = args::string(arg.value("\"on-failure\"")?, "restart", "\"on-failure\"")?;
    let value = lit.value();
    match value.as_str() {
        "on-failure" => Ok((true, lit.span())),
        "never" => Ok((false, lit.span())),
        _ => {
            let list = args::quoted_list(RESTARTS);
            let message = match args::closest(&value, RESTARTS) {
                Some(near) => format!(
                    "unknown restart policy `{value}`; did you mean `{near}`? expected one of {list}"
                ),
                None => format!("unknown restart policy `{value}`; expected one of {list}"),
            };
            Err(syn::Error::new(lit.span(), message))
        }
    }
}

/// `max_restarts = N`: an integer literal from 1 to `u32::MAX`.
fn max_restarts_value(arg: &Arg) -> syn::Result<(u32, Span)> {
    let max = args::count(
        arg,
        "5",
        "expected a positive integer like `max_restarts = 5`",
        "`max_restarts = 0` restarts nothing; write `restart = \"never\"` instead",
    )?;
    Ok((max, arg.key.span()))
}

fn name(arg: &Arg) -> syn::Result<String> {
    let lit = args::string(arg.value("\"consumer\"")?, "name", "\"consumer\"")?;
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "empty `name`: give the part a name for the report, or leave `name` out to use \
             its path",
        ));
    }
    Ok(value)
}

/// `async fn name(&self, token: CancellationToken)`, returning `()` or a `Result<(), E>`.
fn check_signature(method: &ImplItemFn, errors: &mut Errors) {
    let sig = &method.sig;
    let name = &sig.ident;
    let shape = format!("`async fn {name}(&self, token: lifecycle::CancellationToken)`");
    if sig.asyncness.is_none() {
        errors.add(
            sig.fn_token.span,
            format!(
                "`#[run]` method `{name}` must be `async`: it runs until its stage's token is \
                 cancelled; write {shape}"
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("`#[run]` method `{name}` cannot be generic: the runtime calls it with no type arguments"),
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if matches!(receiver.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(receiver)) => errors.push(syn::Error::new_spanned(
            receiver,
            format!(
                "`#[run]` method `{name}` must take `&self`: the component is shared with its \
                 hooks; write {shape}"
            ),
        )),
        _ => {
            errors.add(
                sig.paren_token.span.join(),
                format!(
                    "`#[run]` method `{name}` needs `&self` and its stage's token: write {shape}"
                ),
            );
            return;
        }
    }
    if inputs.next().is_none() {
        errors.add(
            sig.paren_token.span.join(),
            format!(
                "`#[run]` method `{name}` takes its stage's token, cancelled when its stage \
                 stops: write {shape}"
            ),
        );
    }
    for extra in inputs {
        errors.push(syn::Error::new_spanned(
            extra,
            format!(
                "`#[run]` method `{name}` takes only `&self` and the token; remove this parameter"
            ),
        ));
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        if !crate::signature::is_unit_or_result(ty) {
            errors.push(syn::Error::new_spanned(
                ty,
                format!("`#[run]` method `{name}` must return nothing, `()` or a `Result<(), E>`"),
            ));
        }
    }
}

/// `fn runs(self: Arc<Self>) -> Vec<Run>` for the `impl Component`, or nothing when the impl
/// has no `#[run]` method (the trait's default returns none).
pub(crate) fn runs_fn(runs: &[RunFn]) -> TokenStream {
    if runs.is_empty() {
        return TokenStream::new();
    }
    let values = runs.iter().map(|run| {
        let method = &run.ident;
        let name = match &run.name {
            Some(name) => quote!(#name),
            None => {
                let suffix = &run.path_suffix;
                quote!(::core::concat!(::core::module_path!(), #suffix))
            }
        };
        let stage = run.stage.as_ref().map(|stage| quote!(.in_stage(#stage)));
        let restart = run.restart.map(|max| {
            let backoff = run.backoff.map(|backoff| {
                let backoff = duration::to_tokens(backoff);
                quote!(.with_first_backoff(#backoff))
            });
            quote!(.with_restart(::lifecycle::__private::Restart::on_failure(#max) #backoff))
        });
        let token = quote_spanned!(run.token_span=> token);
        let call = quote_spanned! {run.span=>
            ::lifecycle::__private::bind_run(&self, |this, token| async move {
                Self::#method(&this, #token).await
            })
        };
        quote_spanned! {run.span=>
            ::lifecycle::__private::Run::new(#name, #call) #stage #restart
        }
    });
    // An array when every part is always compiled; one `push` a part when some carry a
    // `#[cfg(...)]` (as for hooks).
    let body = if runs.iter().all(|run| run.cfgs.is_empty()) {
        quote!(::lifecycle::__private::Runs::from([#(#values),*]))
    } else {
        let pushes = runs.iter().zip(values).map(|(run, value)| {
            let cfgs = &run.cfgs;
            quote!(#(#cfgs)* runs.push(#value);)
        });
        quote! {
            #[allow(unused_mut)]
            let mut runs = ::lifecycle::__private::Runs::new();
            #(#pushes)*
            runs
        }
    };
    quote! {
        fn runs(self: ::std::sync::Arc<Self>) -> ::lifecycle::__private::Runs {
            #body
        }
    }
}
