//! Code generation for `#[lifecycle::component]`: the `impl Component` that hands each managed
//! value's hooks to the runtime.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemImpl;

use crate::hook::expand::{declared_value, hook_value};
use crate::hook::{HookFn, HookKind};

/// `impl Component for Db { fn hooks(self: Arc<Self>) -> Vec<Hook> { Vec::from([...]) } }`.
///
/// Each hook owns a clone of the `Arc` and clones it again on every run (`__private::bind`), so
/// an async hook's future is `'static`. Methods are called as `Self::close(&this)` rather than
/// `this.close()` so that a trait method of `Arc` with the same name cannot be picked instead.
pub(crate) fn component_impl(item: &ItemImpl, hooks: &[HookFn], runs: TokenStream) -> TokenStream {
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let values = hooks.iter().map(|hook| {
        let method = &hook.ident;
        let call = if hook.is_async {
            quote_spanned!(hook.span=> async move { Self::#method(&this).await })
        } else {
            quote_spanned!(hook.span=> Self::#method(&this))
        };
        let callable =
            quote_spanned!(hook.span=> ::lifecycle::__private::bind(&self, |this| #call));
        hook_value(hook, callable)
    });
    // An array when every hook is always compiled; one `push` a hook when some carry a
    // `#[cfg(...)]`, which can be repeated on a statement but not on an array element.
    let body = if hooks.iter().all(|hook| hook.cfgs.is_empty()) {
        quote!(::lifecycle::__private::Hooks::from([#(#values),*]))
    } else {
        let pushes = hooks.iter().zip(values).map(|(hook, value)| {
            let cfgs = &hook.cfgs;
            quote!(#(#cfgs)* hooks.push(#value);)
        });
        quote! {
            #[allow(unused_mut)]
            let mut hooks = ::lifecycle::__private::Hooks::new();
            #(#pushes)*
            hooks
        }
    };
    quote! {
        impl #impl_generics ::lifecycle::__private::Component for #self_ty #where_clause {
            fn hooks(self: ::std::sync::Arc<Self>) -> ::lifecycle::__private::Hooks {
                #body
            }
            #runs
        }
    }
}

/// Declares the component's shutdown and persist hooks in `COMPONENT_HOOKS`, for the budget a
/// binary prints before it starts (`LIFECYCLE_PRINT_BUDGET=1`): what the budget reads of them
/// (kind, order, timeout), with bodies that do nothing and no name. Never run; never registered
/// with a lifecycle. A generic impl declares nothing: its types are not known until it is used.
pub(crate) fn declaration(item: &ItemImpl, hooks: &[HookFn]) -> Option<TokenStream> {
    let hooks: Vec<&HookFn> = hooks
        .iter()
        .filter(|hook| matches!(hook.kind, HookKind::Shutdown | HookKind::Persist))
        .collect();
    if !item.generics.params.is_empty() || hooks.is_empty() {
        return None;
    }
    let values = hooks.iter().map(|hook| declared_value(hook));
    // The static's closure holds the list: an array when every hook is always compiled, else
    // one `push` a hook (see `component_impl`).
    let list = if hooks.iter().all(|hook| hook.cfgs.is_empty()) {
        quote!(::lifecycle::__private::Hooks::from([#(#values),*]))
    } else {
        let pushes = hooks.iter().zip(values).map(|(hook, value)| {
            let cfgs = &hook.cfgs;
            quote!(#(#cfgs)* hooks.push(#value);)
        });
        quote! {{
            #[allow(unused_mut)]
            let mut hooks = ::lifecycle::__private::Hooks::new();
            #(#pushes)*
            hooks
        }}
    };
    // `HOOKS` in an anonymous const clashes with nothing outside it.
    Some(quote! {
        const _: () = {
            #[::lifecycle::__private::distributed_slice(::lifecycle::__private::COMPONENT_HOOKS)]
            #[linkme(crate = ::lifecycle::__private::linkme)]
            static HOOKS: fn() -> ::lifecycle::__private::Hooks = || #list;
        };
    })
}
