//! Code generation for hooks: the `impl Component` of a `#[lifecycle::component]` impl block, and
//! the `FREE_HOOKS` registration of a free `#[lifecycle::on_shutdown]` / `#[lifecycle::persist]`
//! function.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Ident, ItemImpl, LitStr};

use super::duration;
use super::hook_attr::{HookFn, HookKind};

/// `::lifecycle::__private::Hook::on_shutdown(name, callable).order(..).timeout(..)`, with a
/// builder call only for each argument the user gave.
fn hook_value(hook: &HookFn, callable: TokenStream) -> TokenStream {
    let constructor = match (hook.kind, hook.is_async) {
        (HookKind::OnShutdown, true) => "on_shutdown",
        (HookKind::OnShutdown, false) => "on_shutdown_blocking",
        (HookKind::Persist, true) => "persist",
        (HookKind::Persist, false) => "persist_blocking",
    };
    let constructor = Ident::new(constructor, hook.span);
    let name = match &hook.args.name {
        Some((name, span)) => LitStr::new(name, *span).into_token_stream(),
        None => {
            let suffix = &hook.path_suffix;
            quote!(::core::concat!(::core::module_path!(), #suffix))
        }
    };
    let order = hook.args.order.map(|(order, _)| quote!(.order(#order)));
    let timeout = hook.args.timeout.map(|(timeout, _)| {
        let timeout = duration::to_tokens(timeout);
        quote!(.timeout(#timeout))
    });
    let every = hook.args.every.map(|(every, _)| {
        let every = duration::to_tokens(every);
        quote!(.every(#every))
    });
    // Spanned at the method's name: a future that is not `Send`, or a result that is not a
    // `HookResult`, is reported at the hook rather than at the attribute.
    quote_spanned! {hook.span=>
        ::lifecycle::__private::Hook::#constructor(#name, #callable) #order #timeout #every
    }
}

/// `impl Component for Db { fn hooks(self: Arc<Self>) -> Vec<Hook> { Vec::from([...]) } }`.
///
/// Each hook owns a clone of the `Arc`; an async hook clones it again on every run so the
/// returned future is `'static`. Methods are called as `Self::close(&this)` rather than
/// `this.close()` so that a trait method of `Arc` with the same name cannot be picked instead.
pub(crate) fn component_impl(item: &ItemImpl, hooks: &[HookFn]) -> TokenStream {
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let values = hooks.iter().map(|hook| {
        let method = &hook.ident;
        let callable = if hook.is_async {
            quote_spanned! {hook.span=>
                move || {
                    let this = ::std::sync::Arc::clone(&this);
                    async move { Self::#method(&this).await }
                }
            }
        } else {
            quote_spanned!(hook.span=> move || Self::#method(&this))
        };
        let value = hook_value(hook, callable);
        quote! {
            {
                let this = ::std::sync::Arc::clone(&self);
                #value
            }
        }
    });
    // An array when every hook is always compiled; one `push` a hook when some carry a
    // `#[cfg(...)]`, which can be repeated on a statement but not on an array element.
    let body = if hooks.iter().all(|hook| hook.cfgs.is_empty()) {
        quote!(::std::vec::Vec::from([#(#values),*]))
    } else {
        let pushes = hooks.iter().zip(values).map(|(hook, value)| {
            let cfgs = &hook.cfgs;
            quote!(#(#cfgs)* hooks.push(#value);)
        });
        quote! {
            #[allow(unused_mut)]
            let mut hooks = ::std::vec::Vec::new();
            #(#pushes)*
            hooks
        }
    };
    quote! {
        impl #impl_generics ::lifecycle::__private::Component for #self_ty #where_clause {
            fn hooks(
                self: ::std::sync::Arc<Self>,
            ) -> ::std::vec::Vec<::lifecycle::__private::Hook> {
                #body
            }
        }
    }
}

/// Registers a free hook function in `FREE_HOOKS`, which `Lifecycle::register_free_hooks` reads
/// at start-up: no wiring in `main`.
pub(crate) fn free_registration(hook: &HookFn) -> TokenStream {
    // The helper items live in an anonymous const, so `HOOK` and `hook` clash with nothing
    // outside; only a user function of the same name would be shadowed inside it.
    let (static_name, fn_name) = if hook.ident == "hook" || hook.ident == "HOOK" {
        (
            format_ident!("__LIFECYCLE_HOOK"),
            format_ident!("__lifecycle_hook"),
        )
    } else {
        (format_ident!("HOOK"), format_ident!("hook"))
    };
    let value = hook_value(hook, hook.ident.to_token_stream());
    let cfgs = &hook.cfgs;
    quote! {
        #(#cfgs)*
        const _: () = {
            #[::lifecycle::__private::linkme::distributed_slice(::lifecycle::__private::FREE_HOOKS)]
            #[linkme(crate = ::lifecycle::__private::linkme)]
            static #static_name: fn() -> ::lifecycle::__private::Hook = #fn_name;
            fn #fn_name() -> ::lifecycle::__private::Hook {
                #value
            }
        };
    }
}
