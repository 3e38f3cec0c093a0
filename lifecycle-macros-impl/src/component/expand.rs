//! Code generation for `#[lifecycle::component]`: the `impl Component` that hands each managed
//! value's hooks to the runtime.

use proc_macro2::TokenStream;
use quote::ToTokens;
use quote::{quote, quote_spanned};
use syn::{ItemImpl, LitStr};

use crate::hook::expand::{hook_value, Builder};
use crate::hook::{HookFn, HookKind};

/// `impl Component for Db`: `add_hooks` adds each hook method to a `Bind` of the value, one
/// statement a hook (`this.add(HookKind::Shutdown, "Db::close", Self::close).with_order(100);`),
/// once for both uses: `hooks` binds them to the managed value (`__private::bound`), and the
/// declaration below reads them bound to none. Only the runtime calls `add_hooks`, through the
/// trait, so an inherent method of the same name on the user's type cannot be picked instead.
///
/// Each method is passed as a function (`Self::close`) rather than called as `this.close()`, so
/// that a trait method of `Arc` with the same name cannot be picked instead either.
pub(crate) fn component_impl(item: &ItemImpl, hooks: &[HookFn], runs: TokenStream) -> TokenStream {
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let hooks_fn = if hooks.is_empty() {
        quote! {
            fn hooks(self: ::std::sync::Arc<Self>) -> ::lifecycle::__private::Hooks {
                ::lifecycle::__private::Hooks::new()
            }
        }
    } else {
        // A `#[cfg(...)]` on the method is repeated on its statement.
        let statements = hooks.iter().map(|hook| {
            let method = &hook.ident;
            // Named below the module (`"Db::close"`), unless the user chose the name.
            let relative = LitStr::new(hook.path_suffix.trim_start_matches("::"), hook.span);
            let value = hook_value(
                hook,
                Builder::Bind,
                relative.into_token_stream(),
                quote_spanned!(hook.span=> Self::#method),
            );
            let named = hook.args.name.as_ref().map(|(name, span)| {
                let name = LitStr::new(name, *span);
                quote!(.with_name(#name))
            });
            let cfgs = &hook.cfgs;
            quote!(#(#cfgs)* #value #named;)
        });
        quote! {
            fn hooks(self: ::std::sync::Arc<Self>) -> ::lifecycle::__private::Hooks {
                ::lifecycle::__private::bound(self, ::core::module_path!())
            }
            fn add_hooks(this: &mut ::lifecycle::__private::Bind<Self>) {
                #(#statements)*
            }
        }
    };
    quote! {
        impl #impl_generics ::lifecycle::__private::Component for #self_ty #where_clause {
            #hooks_fn
            #runs
        }
    }
}

/// Declares the component in `COMPONENT_HOOKS`, for the budget a binary prints before it starts
/// (`LIFECYCLE_PRINT_BUDGET=1`): `declared::<Db>` is its `add_hooks` bound to no value (kind,
/// order, timeout; bodies that do nothing). Never run; never registered with a lifecycle. Only a
/// component with shutdown or persist hooks, the ones the budget counts, is declared; a generic
/// impl declares nothing: its types are not known until it is used.
pub(crate) fn declaration(item: &ItemImpl, hooks: &[HookFn]) -> Option<TokenStream> {
    let counted = hooks
        .iter()
        .any(|hook| matches!(hook.kind, HookKind::Shutdown | HookKind::Persist));
    if !item.generics.params.is_empty() || !counted {
        return None;
    }
    let self_ty = &item.self_ty;
    // `declared` in an anonymous const clashes with nothing outside it.
    Some(quote! {
        const _: () = {
            #[::lifecycle::__private::distributed_slice(::lifecycle::__private::COMPONENT_HOOKS)]
            #[linkme(crate = ::lifecycle::__private::linkme)]
            fn declared() -> ::lifecycle::__private::Hooks {
                ::lifecycle::__private::declared::<#self_ty>()
            }
        };
    })
}
