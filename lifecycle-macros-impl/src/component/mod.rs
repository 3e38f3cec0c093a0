//! `#[lifecycle::component]`: finds the hook methods of an inherent impl block, strips their
//! attributes and checks them, then implements `Component` for the type.

pub(crate) mod check;
mod expand;
pub(crate) mod run;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, ItemImpl, Meta};

use crate::errors::{with_errors, Errors};
use crate::hook::args::HookArgs;
use crate::hook::{HookFn, HookKind};
use crate::item;
use crate::signature::{self, Role};

/// The whole macro: parse → validate → expand.
pub(crate) fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[lifecycle::component]` takes no arguments; put `order`, `timeout` and `name` \
             on each `#[on_start(...)]`, `#[on_shutdown(...)]`, ... method",
        ));
    }
    let misplaced = |found: &str| {
        format!(
            "`#[lifecycle::component]` goes on an impl block, found {found}; put it on \
             the `impl` that holds the `#[on_shutdown]` and `#[persist]` methods"
        )
    };
    let Some(block) = item::parse::<ItemImpl>(item.clone(), misplaced, &mut errors) else {
        return with_errors(item, &errors);
    };
    let component = analyze(block, &mut errors);
    let mut expanded = component.item.to_token_stream();
    if !component.is_trait_impl {
        let mut parts = run::runs_fn(&component.runs);
        parts.extend(check::checks_fn(&component.checks));
        expanded.extend(expand::component_impl(
            &component.item,
            &component.hooks,
            parts,
        ));
        expanded.extend(expand::declaration(&component.item, &component.hooks));
    }
    with_errors(expanded, &errors)
}

/// The impl block as it will be emitted (hook attributes stripped) and its valid hooks.
struct Component {
    item: ItemImpl,
    hooks: Vec<HookFn>,
    runs: Vec<run::RunFn>,
    checks: Vec<check::CheckFn>,
    /// A trait impl gets no `Component` impl: its error is the only one shown.
    is_trait_impl: bool,
}

/// Strips the hook attributes of `item` (so none is left for the compiler to resolve, even when
/// there are errors) and checks them; every problem goes to `errors`.
fn analyze(mut item: ItemImpl, errors: &mut Errors) -> Component {
    if let Some((path, for_token)) = &item.trait_ {
        let bang = &item.modifiers.polarity;
        errors.push(syn::Error::new_spanned(
            quote::quote!(#bang #path #for_token),
            "`#[lifecycle::component]` goes on an inherent impl like `impl Db { ... }`, \
             found a trait impl; move the hook methods into an inherent impl",
        ));
        for impl_item in &mut item.items {
            take_hook_attrs(impl_item_attrs(impl_item));
            take_run_attrs(impl_item_attrs(impl_item));
            take_check_attrs(impl_item_attrs(impl_item));
        }
        return Component {
            item,
            hooks: Vec::new(),
            runs: Vec::new(),
            checks: Vec::new(),
            is_trait_impl: true,
        };
    }
    let type_name = type_name(&item.self_ty);
    let mut hooks = Vec::new();
    let mut runs = Vec::new();
    let mut checks = Vec::new();
    let mut attribute_count = 0;
    for impl_item in &mut item.items {
        let run_attrs = take_run_attrs(impl_item_attrs(impl_item));
        let check_attrs = take_check_attrs(impl_item_attrs(impl_item));
        let found = take_hook_attrs(impl_item_attrs(impl_item));
        attribute_count += found.len() + run_attrs.len() + check_attrs.len();
        if let Some(check_attr) = check_attrs.first() {
            let ImplItem::Fn(method) = impl_item else {
                errors.push(syn::Error::new_spanned(
                    check_attr,
                    format!(
                        "`#[check]` goes on an `async fn` method, found {}",
                        describe_impl_item(impl_item)
                    ),
                ));
                continue;
            };
            let name = &method.sig.ident;
            for other in check_attrs.iter().skip(1) {
                errors.push(syn::Error::new_spanned(
                    other,
                    format!("`#[check]` is set more than once on `{name}`"),
                ));
            }
            let other = found
                .first()
                .map(|(kind, attr)| (format!("#[{}]", kind.attr_name()), attr))
                .or_else(|| run_attrs.first().map(|attr| ("#[run]".to_owned(), attr)));
            if let Some((other, attr)) = other {
                errors.push(syn::Error::new_spanned(
                    attr,
                    format!(
                        "`{name}` has both `#[check]` and `{other}`, but a readiness check is a \
                         method of its own; split it into two methods"
                    ),
                ));
            } else if let Some(check) = check::analyze(method, check_attr, &type_name, errors) {
                checks.push(check);
            }
            continue;
        }
        if let Some(run_attr) = run_attrs.first() {
            let ImplItem::Fn(method) = impl_item else {
                errors.push(syn::Error::new_spanned(
                    run_attr,
                    format!(
                        "`#[run]` goes on an `async fn` method, found {}",
                        describe_impl_item(impl_item)
                    ),
                ));
                continue;
            };
            let name = &method.sig.ident;
            for other in run_attrs.iter().skip(1) {
                errors.push(syn::Error::new_spanned(
                    other,
                    format!("`#[run]` is set more than once on `{name}`"),
                ));
            }
            if let Some((kind, attr)) = found.first() {
                errors.push(syn::Error::new_spanned(
                    attr,
                    format!(
                        "`{name}` has both `#[run]` and `#[{}]`, but a method is either the \
                         component's long-running part or a hook; split it into two methods",
                        kind.attr_name()
                    ),
                ));
            } else if let Some(run) = run::analyze(method, run_attr, &type_name, errors) {
                runs.push(run);
            }
            continue;
        }
        let Some(first) = found.first() else {
            continue;
        };
        let ImplItem::Fn(method) = impl_item else {
            errors.push(syn::Error::new_spanned(
                &first.1,
                format!(
                    "`#[{}]` goes on a `&self` method, found {}",
                    first.0.attr_name(),
                    describe_impl_item(impl_item)
                ),
            ));
            continue;
        };
        let mut hook_errors = Errors::default();
        let (kind, attr) = first;
        for (other_kind, other) in found.iter().skip(1) {
            let message = if other_kind == kind {
                format!(
                    "`#[{}]` is set more than once on `{}`",
                    kind.attr_name(),
                    method.sig.ident
                )
            } else {
                format!(
                    "`{}` has both `#[{}]` and `#[{}]`, but a method is one kind of hook; split \
                     it into two methods",
                    method.sig.ident,
                    kind.attr_name(),
                    other_kind.attr_name()
                )
            };
            hook_errors.push(syn::Error::new_spanned(other, message));
        }
        let args = hook_args(*kind, attr, &mut hook_errors);
        signature::check(&method.sig, Role::MethodHook, &mut hook_errors);
        if hook_errors.is_empty() {
            hooks.push(HookFn {
                kind: *kind,
                args,
                ident: method.sig.ident.clone(),
                is_async: method.sig.asyncness.is_some(),
                path_suffix: format!("::{type_name}::{}", item::unraw(&method.sig.ident)),
                span: item::located_at(method.sig.ident.span()),
                cfgs: item::cfg_attrs(&method.attrs),
            });
        }
        errors.append(hook_errors);
    }
    if attribute_count == 0 {
        errors.push(syn::Error::new_spanned(
            &item.self_ty,
            "no `#[on_start]`, `#[on_reload]`, `#[on_shutdown]`, `#[persist]`, `#[run]` or \
             `#[check]` method in this impl; mark a `&self` method with one, or remove \
             `#[lifecycle::component]`",
        ));
    }
    Component {
        item,
        hooks,
        runs,
        checks,
        is_trait_impl: false,
    }
}

/// Parses the arguments of one hook attribute.
fn hook_args(kind: HookKind, attr: &Attribute, errors: &mut Errors) -> HookArgs {
    let written = format!("#[{}]", kind.attr_name());
    match &attr.meta {
        Meta::Path(_) => HookArgs::default(),
        Meta::List(list) => HookArgs::parse(kind, list.tokens.clone(), &written, errors),
        Meta::NameValue(name_value) => {
            errors.push(syn::Error::new_spanned(
                name_value,
                format!(
                    "expected `#[{0}]` or `#[{0}(key = value, ...)]`",
                    kind.attr_name()
                ),
            ));
            HookArgs::default()
        }
    }
}

/// Which hook an attribute is, written bare (`#[on_shutdown]`) or qualified
/// (`#[lifecycle::on_shutdown]`, `#[::lifecycle::on_shutdown]`).
fn hook_kind(attr: &Attribute) -> Option<HookKind> {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let last = match segments.as_slice() {
        [last] => last,
        [krate, last] if krate == "lifecycle" => last,
        _ => return None,
    };
    match last.as_str() {
        "on_shutdown" => Some(HookKind::Shutdown),
        "persist" => Some(HookKind::Persist),
        "on_start" => Some(HookKind::Start),
        "on_reload" => Some(HookKind::Reload),
        _ => None,
    }
}

/// Removes the hook attributes from `attrs` and returns them in source order.
fn take_hook_attrs(attrs: Option<&mut Vec<Attribute>>) -> Vec<(HookKind, Attribute)> {
    let Some(attrs) = attrs else {
        return Vec::new();
    };
    let mut found = Vec::new();
    attrs.retain(|attr| match hook_kind(attr) {
        Some(kind) => {
            found.push((kind, attr.clone()));
            false
        }
        None => true,
    });
    found
}

/// Removes the `#[check]` attributes from `attrs` and returns them in source order.
fn take_check_attrs(attrs: Option<&mut Vec<Attribute>>) -> Vec<Attribute> {
    let Some(attrs) = attrs else {
        return Vec::new();
    };
    let mut found = Vec::new();
    attrs.retain(|attr| {
        let is_check = check::is_check(attr);
        if is_check {
            found.push(attr.clone());
        }
        !is_check
    });
    found
}

/// Removes the `#[run]` attributes from `attrs` and returns them in source order.
fn take_run_attrs(attrs: Option<&mut Vec<Attribute>>) -> Vec<Attribute> {
    let Some(attrs) = attrs else {
        return Vec::new();
    };
    let mut found = Vec::new();
    attrs.retain(|attr| {
        let is_run = run::is_run(attr);
        if is_run {
            found.push(attr.clone());
        }
        !is_run
    });
    found
}

fn impl_item_attrs(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Const(item) => Some(&mut item.attrs),
        ImplItem::Fn(item) => Some(&mut item.attrs),
        ImplItem::Type(item) => Some(&mut item.attrs),
        ImplItem::Macro(item) => Some(&mut item.attrs),
        _ => None,
    }
}

fn describe_impl_item(item: &ImplItem) -> &'static str {
    match item {
        ImplItem::Const(_) => "an associated const",
        ImplItem::Type(_) => "an associated type",
        ImplItem::Macro(_) => "a macro invocation",
        _ => "an item that is not a method",
    }
}

/// `Db` for `impl Db`, `Cache` for `impl<T> Cache<T>`: the name shown in hook names.
fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) => item::unraw(&last.ident),
            None => String::new(),
        },
        syn::Type::Group(group) => type_name(&group.elem),
        syn::Type::Paren(paren) => type_name(&paren.elem),
        other => other
            .to_token_stream()
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    }
}
