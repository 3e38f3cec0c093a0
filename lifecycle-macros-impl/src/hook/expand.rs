//! Code generation for hooks: the `Hook` value of one hook (shared with the `impl Component` of
//! `#[lifecycle::component]`), and the `FREE_HOOKS` registration of a free function.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Ident, LitStr};

use super::{HookFn, HookKind};
use crate::duration;

/// `::lifecycle::__private::Hook::on_shutdown(name, callable).with_order(..).with_timeout(..)`, with a
/// builder call only for each argument the user gave.
pub(crate) fn hook_value(hook: &HookFn, callable: TokenStream) -> TokenStream {
    let constructor = match (hook.kind, hook.is_async) {
        (HookKind::Shutdown, true) => "on_shutdown",
        (HookKind::Shutdown, false) => "on_shutdown_blocking",
        (HookKind::Persist, true) => "persist",
        (HookKind::Persist, false) => "persist_blocking",
        (HookKind::Start, true) => "on_start",
        (HookKind::Start, false) => "on_start_blocking",
        (HookKind::Reload, true) => "on_reload",
        (HookKind::Reload, false) => "on_reload_blocking",
    };
    let constructor = Ident::new(constructor, hook.span);
    let name = match &hook.args.name {
        Some((name, span)) => LitStr::new(name, *span).into_token_stream(),
        None => {
            let suffix = &hook.path_suffix;
            quote!(::core::concat!(::core::module_path!(), #suffix))
        }
    };
    let (order, timeout) = order_and_timeout(hook);
    let every = hook.args.every.map(|(every, _)| {
        let every = duration::to_tokens(every);
        quote!(.with_every(#every))
    });
    // Spanned at the method's name: a future that is not `Send`, or a result that is not a
    // `Outcome`, is reported at the hook rather than at the attribute.
    quote_spanned! {hook.span=>
        ::lifecycle::__private::Hook::#constructor(#name, #callable) #order #timeout #every
    }
}

/// A shutdown or persist hook as the budget reads it before start-up: its kind, order and
/// timeout, an empty name and a body that does nothing.
pub(crate) fn declared_value(hook: &HookFn) -> TokenStream {
    let constructor = match hook.kind {
        HookKind::Persist => "persist_blocking",
        _ => "on_shutdown_blocking",
    };
    let constructor = Ident::new(constructor, hook.span);
    let (order, timeout) = order_and_timeout(hook);
    quote!(::lifecycle::__private::Hook::#constructor("", || {}) #order #timeout)
}

/// `.with_order(..)` and `.with_timeout(..)`, each only when the user gave it.
fn order_and_timeout(hook: &HookFn) -> (Option<TokenStream>, Option<TokenStream>) {
    let order = hook
        .args
        .order
        .map(|(order, _)| quote!(.with_order(#order)));
    let timeout = hook.args.timeout.map(|(timeout, _)| {
        let timeout = duration::to_tokens(timeout);
        quote!(.with_timeout(#timeout))
    });
    (order, timeout)
}

/// Registers a free hook function in `FREE_HOOKS`, which `Lifecycle::register_free_hooks` reads
/// at start-up: no wiring in `main`.
pub(crate) fn free_registration(hook: &HookFn) -> TokenStream {
    // The static lives in an anonymous const, so `HOOK` clashes with nothing outside; only a
    // user item of the same name would be shadowed inside it.
    let static_name = if hook.ident == "HOOK" {
        format_ident!("__LIFECYCLE_HOOK")
    } else {
        format_ident!("HOOK")
    };
    let value = hook_value(hook, hook.ident.to_token_stream());
    let cfgs = &hook.cfgs;
    quote! {
        #(#cfgs)*
        const _: () = {
            #[::lifecycle::__private::distributed_slice(::lifecycle::__private::FREE_HOOKS)]
            #[linkme(crate = ::lifecycle::__private::linkme)]
            static #static_name: fn() -> ::lifecycle::__private::Hook = || #value;
        };
    }
}
