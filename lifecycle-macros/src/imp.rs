//! The macros at the `proc_macro2` level: parse → validate → expand, with every error combined
//! and emitted next to the item so that no follow-up errors appear.
//!
//! This module uses only `proc_macro2`, `syn`, `quote` and `humantime`, so an ordinary crate can
//! include it with `#[path = ".../lifecycle-macros/src/imp.rs"] mod imp;` (the expansion test
//! does). Its submodules name their files with `#[path]` for the same reason: the paths are then
//! relative to this file wherever it is included from.

#[path = "args.rs"]
mod args;
#[path = "component.rs"]
mod component;
#[path = "duration.rs"]
mod duration;
#[path = "expand_hooks.rs"]
mod expand_hooks;
#[path = "expand_main.rs"]
mod expand_main;
#[path = "hook_attr.rs"]
mod hook_attr;
#[path = "item.rs"]
mod item;
#[path = "main_attr.rs"]
mod main_attr;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::Item;

use args::Errors;
use hook_attr::{HookArgs, HookFn, HookKind, Place};
use main_attr::{MainArgs, Shape};

/// `#[lifecycle::main(...)]`.
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let main_args = MainArgs::parse(args, &mut errors);
    let function = match item::parse(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(other) => {
            let (found, span) = item::describe(&other);
            errors.add(
                span,
                format!("`#[lifecycle::main]` goes on `async fn main`, found {found}"),
            );
            return with_errors(item, &errors);
        }
        Err(error) => {
            errors.push(error);
            return with_errors(item, &errors);
        }
    };
    let expanded = match main_attr::check_fn(&function, &mut errors) {
        Shape::Valid => expand_main::main_fn(&main_args, &function),
        Shape::NotAsync => function.into_token_stream(),
        Shape::Invalid => expand_main::stub_fn(&function),
    };
    with_errors(expanded, &errors)
}

/// `#[lifecycle::component]`.
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[lifecycle::component]` takes no arguments; put `order`, `timeout` and `name` \
             on each `#[on_shutdown(...)]` or `#[persist(...)]` method",
        ));
    }
    let block = match item::parse(item.clone()) {
        Ok(Item::Impl(block)) => block,
        Ok(other) => {
            let (found, span) = item::describe(&other);
            errors.add(
                span,
                format!(
                    "`#[lifecycle::component]` goes on an impl block, found {found}; put it on \
                     the `impl` that holds the `#[on_shutdown]` and `#[persist]` methods"
                ),
            );
            return with_errors(item, &errors);
        }
        Err(error) => {
            errors.push(error);
            return with_errors(item, &errors);
        }
    };
    let component = component::analyze(block, &mut errors);
    let mut expanded = component.item.to_token_stream();
    if !component.is_trait_impl {
        expanded.extend(expand_hooks::component_impl(
            &component.item,
            &component.hooks,
        ));
    }
    with_errors(expanded, &errors)
}

/// `#[lifecycle::on_shutdown(...)]` on a free function.
pub fn on_shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    free_hook(HookKind::OnShutdown, args, item)
}

/// `#[lifecycle::persist(...)]` on a free function.
pub fn persist(args: TokenStream, item: TokenStream) -> TokenStream {
    free_hook(HookKind::Persist, args, item)
}

fn free_hook(kind: HookKind, args: TokenStream, item: TokenStream) -> TokenStream {
    let attribute = format!("#[lifecycle::{}]", kind.attr_name());
    let mut errors = Errors::default();
    let hook_args = HookArgs::parse(kind, args, &attribute, &mut errors);
    let function = match item::parse(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(other) => {
            let (found, span) = item::describe(&other);
            errors.add(
                span,
                format!(
                    "`{attribute}` goes on a function, found {found}; for methods, put \
                     `#[lifecycle::component]` on their impl block"
                ),
            );
            return with_errors(item, &errors);
        }
        Err(error) => {
            errors.push(error);
            return with_errors(item, &errors);
        }
    };
    if function.sig.receiver().is_some() {
        // A method: the error is about the impl block, so it points at this attribute.
        errors.add(
            Span::call_site(),
            format!(
                "`{attribute}` on a method needs `#[lifecycle::component]` on its impl block, \
                 which registers the method for each managed value"
            ),
        );
        return with_errors(item, &errors);
    }
    hook_attr::check_signature(&function.sig, Place::Free, &mut errors);
    let mut expanded = function.to_token_stream();
    if errors.is_empty() {
        let hook = HookFn {
            kind,
            args: hook_args,
            ident: function.sig.ident.clone(),
            is_async: function.sig.asyncness.is_some(),
            path_suffix: format!("::{}", item::unraw(&function.sig.ident)),
            span: item::located_at(function.sig.ident.span()),
            cfgs: item::cfg_attrs(&function.attrs),
        };
        expanded.extend(expand_hooks::free_registration(&hook));
    }
    with_errors(expanded, &errors)
}

/// The item followed by one `compile_error!` per problem.
fn with_errors(item: TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote!(#item #errors)
}
