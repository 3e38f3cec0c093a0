//! What an attribute was put on: naming items in messages, and parsing the annotated item.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Item};

/// The item an attribute was put on, or the error to report with the item emitted unchanged.
pub(crate) fn parse(item: TokenStream) -> syn::Result<Item> {
    syn::parse2(item)
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

/// `()`, `std::io::Result<()>`, `Result<(), E>`, `fmt::Result`: the return types a hook may
/// declare. The type system checks the rest (`HookResult`); this only catches the obvious
/// mistakes early with a readable message.
pub(crate) fn is_unit_or_result(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Tuple(tuple) => tuple.elems.is_empty(),
        syn::Type::Paren(inner) => is_unit_or_result(&inner.elem),
        syn::Type::Group(inner) => is_unit_or_result(&inner.elem),
        syn::Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident.to_string().ends_with("Result"))
        }
        _ => false,
    }
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
