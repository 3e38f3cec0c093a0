//! Code generation for `#[lifecycle::main]`: the shutdown sequence written out as the typed
//! steps (`start`, `run_start_hooks`, `run_until_trigger`, `drain`, `persist`, `shut_down`), one
//! a line, each consuming the state the previous one returned, so that the expansion reads like
//! the hand-written pipeline and cannot misorder a step.

use std::time::Duration;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, FnArg, ItemFn, ReturnType, Visibility};

use super::args::{Flavor, MainArgs, Ready, Report};
use crate::duration;
use crate::item;

/// The user's function, renamed and kept whole (inner attributes, parameter, declared return
/// type) so that type errors in the body land in the user's code.
fn inner_fn(item: &ItemFn) -> ItemFn {
    let mut inner = item.clone();
    inner
        .attrs
        .retain(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    inner.vis = Visibility::Inherited;
    inner.sig.ident = Ident::new("__lifecycle_main", Span::call_site());
    inner
}

/// `Config::new()` with the attribute's settings.
fn config(args: &MainArgs) -> TokenStream {
    let mut config = quote!(::lifecycle::__private::Config::new());
    for (method, value) in [
        ("grace", args.grace),
        ("drain_delay", args.drain_delay),
        ("hook_timeout", args.hook_timeout),
    ] {
        config.extend(duration_setter(method, value));
    }
    if let Some((signals, _)) = &args.signals {
        let signals = signals
            .iter()
            .map(|variant| Ident::new(variant, Span::call_site()));
        config.extend(quote!(.with_signals([#(::lifecycle::__private::Signal::#signals),*])));
    }
    if let Some((on, _)) = args.force_on_second_signal {
        config.extend(quote!(.with_force_on_second_signal(#on)));
    }
    config.extend(duration_setter("repeat_window", args.repeat_window));
    config.extend(duration_setter("deadline_margin", args.deadline_margin));
    config.extend(duration_setter("startup_timeout", args.startup_timeout));
    config.extend(duration_setter("upgrade_timeout", args.upgrade_timeout));
    if let Some((Ready::Manual, _)) = args.ready {
        config.extend(quote!(.with_ready_when(::lifecycle::__private::ReadyWhen::Manual)));
    }
    if let Some((Report::Json, _)) = args.report {
        // A `const` block: without the runtime's `serde` feature, a compile error saying so.
        config.extend(quote!(.with_report_format(const { ::lifecycle::__private::report_json() })));
    }

    if let Some((Flavor::CurrentThread, _)) = args.flavor {
        config.extend(quote!(.with_flavor(::lifecycle::__private::Flavor::CurrentThread)));
    }
    if let Some((threads, _)) = args.worker_threads {
        config.extend(quote!(.with_worker_threads(#threads)));
    }
    config
}

/// What both forms keep of the user's function: its outer attributes (docs included), its
/// visibility and name, the function itself renamed, and the settings as a `Config`.
struct Parts<'a> {
    outer_attrs: Vec<&'a syn::Attribute>,
    vis: &'a Visibility,
    name: &'a Ident,
    inner: ItemFn,
    config: TokenStream,
}

impl<'a> Parts<'a> {
    fn of(args: &MainArgs, item: &'a ItemFn) -> Self {
        Self {
            outer_attrs: item
                .attrs
                .iter()
                .filter(|attr| matches!(attr.style, AttrStyle::Outer))
                .collect(),
            vis: &item.vis,
            name: &item.sig.ident,
            inner: inner_fn(item),
            config: config(args),
        }
    }
}

/// The generated `fn main() -> ExitCode`.
pub(crate) fn main_fn(args: &MainArgs, item: &ItemFn) -> TokenStream {
    let Parts {
        outer_attrs,
        vis,
        name,
        inner,
        config,
    } = Parts::of(args, item);
    // `init` is pinned to `fn()`: a function of another type is a mismatch on the user's path.
    let init = args.init.as_ref().map(|path| {
        quote! {
            let init: fn() = #path;
            init();
        }
    });

    // `lc.clone()` is spanned at the declared parameter type: a wrong type is reported where
    // the user wrote it.
    let param_ty = match item.sig.inputs.first() {
        Some(FnArg::Typed(param)) => Some(&param.ty),
        _ => None,
    };
    let arg = param_ty.map(|ty| {
        let span = item::located_at(ty.span());
        quote_spanned!(span=> lc.clone())
    });
    // A declared return type is checked against `Outcome` once, here, in a function that is not
    // generic (a generic one would report the type again at each use of its result), and the
    // steps see only `impl MainFuture` (a future whose output is an `Outcome`): a wrong type is
    // one error at the type, not one per step.
    let (check, main) = match &item.sig.output {
        ReturnType::Type(_, ty) => {
            let span = item::located_at(ty.span());
            let param = param_ty.map(|ty| quote!(lc: #ty));
            let passed = param_ty.map(|_| quote!(lc));
            let check = quote_spanned! {span=>
                fn __lifecycle_checked(#param) -> impl ::lifecycle::__private::MainFuture {
                    __lifecycle_main(#passed)
                }
            };
            (Some(check), quote!(__lifecycle_checked(#arg)))
        }
        ReturnType::Default => (None, quote!(__lifecycle_main(#arg))),
    };

    // The shutdown signals are held first, before `init` or anything else can start a thread
    // (every thread inherits the mask), until `start` has installed the listeners: a SIGTERM
    // in the first milliseconds is then a graceful shutdown, not the OS default.
    // `run` is the sequence, one step a line, each consuming the state the previous one
    // returned. `block_on` takes the config with the environment's overrides applied, builds the
    // runtime and runs `run` on it; a start-up error (a bad override, no runtime, no signals;
    // they leave the steps through `?`) becomes its exit code.
    quote! {
        #(#outer_attrs)*
        #vis fn #name() -> ::std::process::ExitCode {
            let signals = ::lifecycle::__private::hold_signals();
            #inner
            #check
            #init
            let config = #config;
            let run = |config| async move {
                let sequence = ::lifecycle::__private::Sequence::new(config);
                let lc = sequence.handle();
                let running = sequence.start()?;
                let started = running.run_start_hooks(#main).await;
                let triggered = started.run_until_trigger().await;
                let drained = triggered.drain().await;
                let persisted = drained.persist().await;
                let report = persisted.shut_down().await;
                report.log();
                ::core::result::Result::Ok(report.exit_code())
            };
            ::lifecycle::__private::block_on(signals, config.apply_env(), run)
        }
    }
}

/// The generated `fn app(..) -> lifecycle::App` for the attribute on an `async fn` not named
/// `main`: the same settings, and the function's parameters after the `Lifecycle` moved into
/// the app, which runs `main` later (as the process, or under the test harness).
pub(crate) fn app_fn(args: &MainArgs, item: &ItemFn) -> TokenStream {
    let Parts {
        outer_attrs,
        vis,
        name,
        inner,
        config,
    } = Parts::of(args, item);
    let init = args.init.as_ref().map(|path| {
        quote! {
            let __lifecycle_init: fn() = #path;
            let __lifecycle_app = __lifecycle_app.with_init(__lifecycle_init);
        }
    });

    let mut inputs = item.sig.inputs.iter();
    // The `Lifecycle`, passed where the user declared it (a wrong type is reported there).
    let lc_ty = match inputs.next() {
        Some(FnArg::Typed(param)) => Some(&param.ty),
        _ => None,
    };
    let lc = lc_ty.map(|ty| {
        let span = item::located_at(ty.span());
        quote_spanned!(span=> lc)
    });
    // The other parameters become the generated function's, by position.
    let rest: Vec<(Ident, &syn::Type)> = inputs
        .enumerate()
        .filter_map(|(index, input)| match input {
            // The user's name where there is one (the generated function's docs show it),
            // else one by position (a pattern such as `(a, b): (u8, u8)`).
            FnArg::Typed(param) => Some((
                match &*param.pat {
                    syn::Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        pat.ident.clone()
                    }
                    _ => Ident::new(&format!("__lifecycle_arg{index}"), Span::call_site()),
                },
                &*param.ty,
            )),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let params = rest.iter().map(|(arg, ty)| quote!(#arg: #ty));
    let passed: Vec<&Ident> = rest.iter().map(|(arg, _)| arg).collect();
    // What the closure passes: the `Lifecycle` (if declared), then the moved parameters.
    let args: Vec<TokenStream> = lc
        .iter()
        .cloned()
        .chain(passed.iter().map(|arg| quote!(#arg)))
        .collect();
    let call = match &item.sig.output {
        ReturnType::Type(_, ty) => {
            let span = item::located_at(ty.span());
            let lc_param = lc_ty.map(|ty| quote!(lc: #ty,));
            let lc_passed = lc_ty.map(|_| quote!(lc,));
            let checked_params = rest.iter().map(|(arg, ty)| quote!(#arg: #ty));
            let check = quote_spanned! {span=>
                fn __lifecycle_checked(#lc_param #(#checked_params),*)
                    -> impl ::lifecycle::__private::MainFuture
                {
                    __lifecycle_main(#lc_passed #(#passed),*)
                }
            };
            quote! {
                #check
                __lifecycle_checked(#(#args),*)
            }
        }
        ReturnType::Default => quote!(__lifecycle_main(#(#args),*)),
    };
    let unused = lc_ty.is_none().then(|| quote!(let _ = lc;));
    // The generated locals are prefixed: the user's parameters (`config`, `app`) are in scope.
    quote! {
        #(#outer_attrs)*
        #vis fn #name(#(#params),*) -> ::lifecycle::App {
            #inner
            let __lifecycle_config = #config;
            let __lifecycle_app =
                ::lifecycle::App::new(__lifecycle_config, move |lc: ::lifecycle::Lifecycle| {
                    #unused
                    #call
                });
            #init
            __lifecycle_app
        }
    }
}

/// `.with_grace(::core::time::Duration::from_secs(30))`, if the key was given.
fn duration_setter(method: &str, value: Option<(Duration, Span)>) -> Option<TokenStream> {
    let (value, _) = value?;
    let method = Ident::new(&format!("with_{method}"), Span::call_site());
    let value = duration::to_tokens(value);
    Some(quote!(.#method(#value)))
}

/// What is emitted when the signature cannot be expanded: a plain `fn main() {}` (so no
/// "`main` function is not allowed to be `async`" follows the real error) that still holds the
/// body in an unused inner function, so the body is type-checked and the IDE keeps working.
pub(crate) fn stub_fn(item: &ItemFn) -> TokenStream {
    let outer_attrs = item
        .attrs
        .iter()
        .filter(|attr| matches!(attr.style, AttrStyle::Outer));
    let vis = &item.vis;
    let name = &item.sig.ident;
    let has_receiver = item.sig.receiver().is_some();
    let inner = (!has_receiver).then(|| {
        let mut inner = inner_fn(item);
        inner.sig.constness = None;
        inner.sig.safety = syn::Safety::Default;
        inner.sig.abi = None;
        inner.sig.variadic = None;
        inner.sig.asyncness = Some(Default::default());
        quote! {
            #[allow(dead_code)]
            #inner
        }
    });
    quote! {
        #(#outer_attrs)*
        #vis fn #name() {
            #inner
        }
    }
}
