//! `#[lifecycle::on_start]`, `#[lifecycle::on_reload]`, `#[lifecycle::on_shutdown(...)]` and
//! `#[lifecycle::persist(...)]` on a free function: parse
//! the arguments and the function, check its signature, register it in `FREE_HOOKS`.
//!
//! The hook model here ([`HookKind`], [`HookFn`]) is shared with `#[lifecycle::component]`,
//! whose methods carry the same attributes.

pub(crate) mod args;
pub(crate) mod expand;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{Attribute, Ident, ItemFn};

use crate::errors::{with_errors, Errors};
use crate::item;
use crate::signature::{self, Role};
use args::HookArgs;

/// Which phase of the lifecycle a hook belongs to; the same as the runtime's
/// `lifecycle::HookKind`, under the same names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// `#[persist]`: runs before the shutdown hooks (resources still open), and every `every`
    /// if set.
    Persist,
    /// `#[on_shutdown]`: runs once, after the drain and the persist hooks, in ascending `order`.
    Shutdown,
    /// `#[on_start]`: runs once, before the service is Ready, in ascending `order`.
    Start,
    /// `#[on_reload]`: runs on SIGHUP (when it is not a shutdown signal) or
    /// `lc.request_reload()`, in ascending `order`.
    Reload,
}

impl HookKind {
    /// The attribute's name, as in `#[on_shutdown]`.
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            HookKind::Persist => "persist",
            HookKind::Shutdown => "on_shutdown",
            HookKind::Start => "on_start",
            HookKind::Reload => "on_reload",
        }
    }
}

/// A checked hook function or method, ready to generate its `Hook`.
pub(crate) struct HookFn {
    pub(crate) kind: HookKind,
    pub(crate) args: HookArgs,
    pub(crate) ident: Ident,
    pub(crate) is_async: bool,
    /// The default display name after the module path: `"::Db::close"` or `"::flush"`.
    pub(crate) path_suffix: String,
    /// Where errors about the generated call (a `!Send` future, a result type that is not
    /// `Outcome`) should point: the method's name.
    pub(crate) span: Span,
    /// The function's `#[cfg(...)]` attributes, repeated on its registration so that a hook
    /// compiled out is not referred to.
    pub(crate) cfgs: Vec<Attribute>,
}

/// The whole macro on a free function: parse → validate → expand.
pub(crate) fn free_hook(kind: HookKind, args: TokenStream, item: TokenStream) -> TokenStream {
    let attribute = format!("#[lifecycle::{}]", kind.attr_name());
    let mut errors = Errors::default();
    let hook_args = HookArgs::parse(kind, args, &attribute, &mut errors);
    let misplaced = |found: &str| {
        format!(
            "`{attribute}` goes on a function, found {found}; for methods, put \
             `#[lifecycle::component]` on their impl block"
        )
    };
    let Some(function) = item::parse::<ItemFn>(item.clone(), misplaced, &mut errors) else {
        return with_errors(item, &errors);
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
    signature::check(&function.sig, Role::FreeHook, &mut errors);
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
        expanded.extend(expand::free_registration(&hook));
    }
    with_errors(expanded, &errors)
}
