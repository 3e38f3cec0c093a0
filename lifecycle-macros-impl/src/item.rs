//! What an attribute was put on: naming items in messages, and parsing the annotated item.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Item, ItemFn, ItemImpl};

use crate::errors::Errors;

/// The kinds of item an attribute may go on.
pub(crate) trait Expected: Sized {
    /// The item, or `None` when it is of another kind.
    fn from_item(item: Item) -> Option<Self>;
}

impl Expected for ItemFn {
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Fn(function) => Some(function),
            _ => None,
        }
    }
}

impl Expected for ItemImpl {
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Impl(block) => Some(block),
            _ => None,
        }
    }
}

/// The item an attribute was put on, if it is of the kind `T`. Otherwise the error is recorded:
/// a syntax error as it is, an item of another kind as `misplaced(found)` (`found` names it,
/// "a struct") on its keyword.
pub(crate) fn parse<T: Expected>(
    item: TokenStream,
    misplaced: impl FnOnce(&str) -> String,
    errors: &mut Errors,
) -> Option<T> {
    let item = errors.check(syn::parse2::<Item>(item))?;
    let (found, span) = describe(&item);
    let expected = T::from_item(item);
    if expected.is_none() {
        errors.add(span, misplaced(found));
    }
    expected
}

/// Names an item for "found a struct" messages and gives the span of its keyword, the token to
/// point at when the attribute does not belong there.
pub(crate) fn describe(item: &Item) -> (&'static str, Span) {
    match item {
        Item::Const(item) => ("a `const` item", item.const_token.span),
        Item::Enum(item) => ("an enum", item.enum_token.span),
        Item::ExternCrate(item) => ("an `extern crate` item", item.extern_token.span),
        Item::Fn(item) => ("a function", item.sig.fn_token.span),
        Item::ForeignMod(item) => ("an `extern` block", item.abi.extern_token.span),
        Item::Impl(item) => ("an impl block", item.impl_token.span),
        Item::Macro(item) => ("a macro invocation", item.mac.path.span()),
        Item::Mod(item) => ("a module", item.mod_token.span),
        Item::Static(item) => ("a `static` item", item.static_token.span),
        Item::Struct(item) => ("a struct", item.struct_token.span),
        Item::Trait(item) => ("a trait", item.trait_token.span),
        Item::TraitAlias(item) => ("a trait alias", item.trait_token.span),
        Item::Type(item) => ("a type alias", item.type_token.span),
        Item::Union(item) => ("a union", item.union_token.span),
        Item::Use(item) => ("a `use` item", item.use_token.span),
        other => ("an item", other.span()),
    }
}

/// A span for generated code that points at the user's `span` in error messages but keeps the
/// macro's hygiene and expansion context, so lints still see the code as generated.
pub(crate) fn located_at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// The `#[cfg(...)]` attributes among `attrs`.
pub(crate) fn cfg_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// An identifier as a name, without the `r#` of a raw identifier.
pub(crate) fn unraw(ident: &syn::Ident) -> String {
    syn::ext::IdentExt::unraw(ident).to_string()
}
