//! Code generation for hooks: the `Hook` value of one hook (shared with the `impl Component` of
//! `#[lifecycle::component]`), and the `FREE_HOOKS` registration of a free function.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Ident, LitStr};

use super::{HookFn, HookKind};
use crate::duration;

/// What a hook is built with: `Hook::new` / `Hook::blocking` for a free function, or the
/// `Bind` of a component's `add_hooks` (`this.add` / `this.add_blocking`).
#[derive(Clone, Copy)]
pub(crate) enum Builder {
    Hook,
    Bind,
}

/// `Hook::new(HookKind::Shutdown, name, callable).with_order(..).with_timeout(..)` for a free
/// function, or `this.add(HookKind::Shutdown, name, Self::close)...` for a component's method,
/// with a builder call only for each argument the user gave.
pub(crate) fn hook_value(
    hook: &HookFn,
    builder: Builder,
    name: TokenStream,
    callable: TokenStream,
) -> TokenStream {
    let (on, constructor) = match (builder, hook.is_async) {
        (Builder::Hook, true) => (quote!(::lifecycle::__private::Hook::), "new"),
        (Builder::Hook, false) => (quote!(::lifecycle::__private::Hook::), "blocking"),
        (Builder::Bind, true) => (quote!(this.), "add"),
        (Builder::Bind, false) => (quote!(this.), "add_blocking"),
    };
    let constructor = Ident::new(constructor, hook.span);
    let kind = match hook.kind {
        HookKind::Shutdown => "Shutdown",
        HookKind::Persist => "Persist",
        HookKind::Start => "Start",
        HookKind::Reload => "Reload",
    };
    let kind = Ident::new(kind, hook.span);
    let order = hook.args.order.map(|(order, _)| {
        let order = Literal::i32_unsuffixed(order);
        quote!(.with_order(#order))
    });
    let timeout = hook.args.timeout.map(|(timeout, _)| {
        let timeout = duration::to_tokens(timeout);
        quote!(.with_timeout(#timeout))
    });
    let every = hook.args.every.map(|(every, _)| {
        let every = duration::to_tokens(every);
        quote!(.with_every(#every))
    });
    // Spanned at the function's name: a future that is not `Send`, or a result that is not an
    // `Outcome`, is reported at the hook rather than at the attribute.
    quote_spanned! {hook.span=>
        #on #constructor(::lifecycle::__private::HookKind::#kind, #name, #callable) #order #timeout #every
    }
}

/// Registers a free hook function in `FREE_HOOKS`, which `Sequence::register_free_hooks` reads
/// at start-up: no wiring in `main`.
pub(crate) fn free_registration(hook: &HookFn) -> TokenStream {
    // The items live in an anonymous const, so `HOOK` and `NAME` clash with nothing outside;
    // only a user item of the same name would be shadowed inside it: the function itself.
    let unclashed = |name: &str| {
        if hook.ident == name {
            format_ident!("__LIFECYCLE_{}", name)
        } else {
            format_ident!("{}", name)
        }
    };
    let static_name = unclashed("HOOK");
    // The default name (the function's path) as a constant of its own, so that the hook reads
    // on one line.
    let (name_const, name) = match &hook.args.name {
        Some((name, span)) => (None, LitStr::new(name, *span).into_token_stream()),
        None => {
            let const_name = unclashed("NAME");
            let suffix = &hook.path_suffix;
            let name_const = quote! {
                const #const_name: &str = ::core::concat!(::core::module_path!(), #suffix);
            };
            (Some(name_const), const_name.into_token_stream())
        }
    };
    let value = hook_value(hook, Builder::Hook, name, hook.ident.to_token_stream());
    let cfgs = &hook.cfgs;
    quote! {
        #(#cfgs)*
        const _: () = {
            #name_const
            #[::lifecycle::__private::distributed_slice(::lifecycle::__private::FREE_HOOKS)]
            #[linkme(crate = ::lifecycle::__private::linkme)]
            static #static_name: fn() -> ::lifecycle::__private::Hook = || #value;
        };
    }
}
