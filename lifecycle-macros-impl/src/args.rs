//! `key = value` attribute arguments: the shared syntax of every attribute in this crate.
//!
//! Parsing is deliberately loose (any expression is accepted as a value) so that a wrong value
//! becomes a precise message from the attribute's own validator instead of a bare syntax error.
//! Validation is strict and collects every problem at once through [`Errors`].

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Token, UnOp};

use crate::errors::Errors;

/// One `key = value` (or a bare `key`, which the validators reject with a hint).
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: Option<Expr>,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `parse_any` so that keywords (`type = ...`) read as unknown keys, not syntax errors.
        let key = input.call(Ident::parse_any)?;
        let value = if input.is_empty() || input.peek(Token![,]) {
            None
        } else {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        };
        Ok(Arg { key, value })
    }
}

impl Arg {
    /// The key as written, without a raw-identifier prefix.
    pub(crate) fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    /// The value, or an error asking for one, such as "`grace` needs a value: `grace = "30s"`".
    pub(crate) fn value(&self, example: &str) -> syn::Result<&Expr> {
        let name = self.name();
        self.value.as_ref().ok_or_else(|| {
            syn::Error::new(
                self.key.span(),
                format!("`{name}` needs a value: `{name} = {example}`"),
            )
        })
    }
}

/// Parses `key = value, ...` from an attribute's arguments.
pub(crate) fn parse_args(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let args = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens)?;
    Ok(args.into_iter().collect())
}

/// Drops unknown and repeated keys (recording an error for each) and gives the rest.
///
/// `misplaced` names keys that belong to a sibling attribute, with the message to give instead
/// of the generic "unknown key" one.
pub(crate) fn known_keys<'a>(
    args: &'a [Arg],
    attribute: &str,
    valid: &[&str],
    misplaced: &[(&str, &str)],
    errors: &mut Errors,
) -> Vec<&'a Arg> {
    let mut seen: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for arg in args {
        let name = arg.name();
        if let Some((_, message)) = misplaced.iter().find(|(key, _)| *key == name) {
            errors.add(arg.key.span(), message);
        } else if !valid.contains(&name.as_str()) {
            errors.add(arg.key.span(), unknown_key(&name, attribute, valid));
        } else if seen.contains(&name) {
            errors.add(arg.key.span(), format!("`{name}` is set more than once"));
        } else {
            seen.push(name);
            kept.push(arg);
        }
    }
    kept
}

fn unknown_key(name: &str, attribute: &str, valid: &[&str]) -> String {
    let list = quoted_list(valid);
    match closest(name, valid) {
        Some(near) => {
            format!(
                "unknown key `{name}` in `{attribute}`; did you mean `{near}`? valid keys: {list}"
            )
        }
        None => format!("unknown key `{name}` in `{attribute}`; valid keys: {list}"),
    }
}

/// "`a`, `b`, `c`"
pub(crate) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate nearest to `found` by edit distance, if it is near enough to be a typo.
pub(crate) fn closest<'a>(found: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let found = found.to_ascii_lowercase();
    let limit = (found.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| {
            (
                edit_distance(&found, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, counted in chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `previous[j]`: the distance between the part of `a` seen so far and `b[..j]`.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for ((cb, diagonal), above) in b.iter().zip(&previous).zip(previous.iter().skip(1)) {
            let left = current.last().copied().unwrap_or_default();
            let substitute = diagonal + usize::from(ca != *cb);
            current.push(substitute.min(above + 1).min(left + 1));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

/// Describes a value for "found ..." in messages: the literal or path as written, else its kind.
pub(crate) fn found(expr: &Expr) -> String {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(_) => "a string".to_owned(),
            other => format!("`{}`", other.to_token_stream()),
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => format!("`-{}`", lit.to_token_stream()),
            _ => "an expression".to_owned(),
        },
        Expr::Path(path) => {
            let segments: Vec<String> = path
                .path
                .segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect();
            format!("`{}`", segments.join("::"))
        }
        Expr::Array(_) => "a list".to_owned(),
        _ => "an expression".to_owned(),
    }
}

/// A string literal value, such as `name = "db"`.
pub(crate) fn string<'a>(expr: &'a Expr, key: &str, example: &str) -> syn::Result<&'a LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected a string like `{example}` for `{key}`, found {}",
                found(other)
            ),
        )),
    }
}

/// A `true` or `false` value.
pub(crate) fn boolean(expr: &Expr, key: &str) -> syn::Result<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        }) => Ok(lit.value),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected `true` or `false` for `{key}`, found {}",
                found(other)
            ),
        )),
    }
}

/// A hook's `order`: an integer literal in `i32` range, negative allowed (`order = -5`).
pub(crate) fn order(expr: &Expr) -> syn::Result<i32> {
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return Err(not_an_order(expr)),
        },
        _ => return Err(not_an_order(expr)),
    };
    if !matches!(lit.suffix(), "" | "i32") {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`order` is an `i32`, found the suffix `{}`; write `order = {}`",
                lit.suffix(),
                lit.base10_digits()
            ),
        ));
    }
    let out_of_range = || {
        let sign = if negative { "-" } else { "" };
        syn::Error::new_spanned(
            expr,
            format!(
                "`order = {sign}{}` is out of range: expected an integer from {} to {}",
                lit.base10_digits(),
                i32::MIN,
                i32::MAX
            ),
        )
    };
    let magnitude: i64 = lit.base10_parse().map_err(|_| out_of_range())?;
    let value = if negative { -magnitude } else { magnitude };
    i32::try_from(value).map_err(|_| out_of_range())
}

fn not_an_order(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        format!(
            "expected an integer like `order = 10` for `order`, found {}",
            found(expr)
        ),
    )
}

/// `key = N` where N counts something, so at least 1: an integer literal from 1 to `u32::MAX`
/// (unsuffixed or `u32`). `expected` is the error for a value that is not an integer literal
/// (it is followed by `, found ...`), `zero` the error for `0`.
pub(crate) fn count(arg: &Arg, example: &str, expected: &str, zero: &str) -> syn::Result<u32> {
    let value = arg.value(example)?;
    let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("{expected}, found {}", found(value)),
        ));
    };
    match lit.base10_parse::<u32>() {
        Ok(0) => Err(syn::Error::new(lit.span(), zero)),
        Ok(n) if matches!(lit.suffix(), "" | "u32") => Ok(n),
        _ => Err(syn::Error::new(
            lit.span(),
            format!(
                "`{} = {}` is out of range: expected an integer from 1 to {}",
                arg.key,
                lit.base10_digits(),
                u32::MAX
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["grace", "drain_delay", "hook_timeout"];
        assert_eq!(closest("grce", &keys), Some("grace"));
        assert_eq!(closest("hook_timout", &keys), Some("hook_timeout"));
        assert_eq!(closest("colour", &keys), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
