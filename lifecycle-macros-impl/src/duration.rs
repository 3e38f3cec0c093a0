//! Duration values (`grace = "30s"`): parsed with `humantime` while compiling, emitted as a
//! `::core::time::Duration` constant so the program does no parsing at start-up.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Expr;

use crate::args::{self, Arg};

/// Whether zero is a meaningful value for a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    /// `drain_delay = "0s"`: no delay.
    Allowed,
    /// `grace`, `hook_timeout`, `timeout`, `every`: zero would make the step useless.
    Rejected,
}

const FORMS: &str = "expected a number and a unit like `30s`, `500ms`, `1m30s`";

/// Reads `key = "30s"` into a duration and the span of its literal.
pub(crate) fn parse(arg: &Arg, example: &str, zero: Zero) -> syn::Result<(Duration, Span)> {
    let key = arg.name();
    let quoted = format!("\"{example}\"");
    let expr = arg.value(&quoted)?;
    let lit = match expr {
        // A bare number is the likeliest mistake: say which unit-carrying string to write.
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => {
            return Err(syn::Error::new(
                int.span(),
                format!(
                    "expected a string like `{quoted}` for `{key}`, found `{int}`; \
                     give the unit too: `{key} = \"{}s\"`",
                    int.base10_digits()
                ),
            ))
        }
        other => args::string(other, &key, &quoted)?,
    };
    let text = lit.value();
    let span = lit.span();
    if text.trim().is_empty() {
        return Err(syn::Error::new(
            span,
            format!("empty duration for `{key}`: {FORMS}"),
        ));
    }
    let duration = humantime::parse_duration(&text).map_err(|_| {
        syn::Error::new(
            span,
            format!("invalid duration `{text}` for `{key}`: {FORMS}"),
        )
    })?;
    if zero == Zero::Rejected && duration.is_zero() {
        return Err(syn::Error::new(
            span,
            format!("`{key}` must be longer than zero, found `{text}`; try `{key} = {quoted}`"),
        ));
    }
    Ok((duration, span))
}

/// `::core::time::Duration::from_millis(30000u64)`, or `Duration::new(secs, nanos)` when the
/// value has sub-millisecond precision or is too large for milliseconds in a `u64`.
pub(crate) fn to_tokens(duration: Duration) -> TokenStream {
    match u64::try_from(duration.as_millis()) {
        Ok(millis) if Duration::from_millis(millis) == duration => {
            quote!(::core::time::Duration::from_millis(#millis))
        }
        _ => {
            let secs = duration.as_secs();
            let nanos = duration.subsec_nanos();
            quote!(::core::time::Duration::new(#secs, #nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_millis_when_exact() {
        let tokens = to_tokens(Duration::from_secs(30)).to_string();
        assert_eq!(
            tokens,
            ":: core :: time :: Duration :: from_millis (30000u64)"
        );
        let tokens = to_tokens(Duration::from_micros(1500)).to_string();
        assert_eq!(
            tokens,
            ":: core :: time :: Duration :: new (0u64 , 1500000u32)"
        );
    }
}
