//! Duration values (`grace = "30s"`): parsed with `humantime` while compiling, emitted as a
//! `::core::time::Duration` constant so the program does no parsing at start-up.

use std::time::Duration;

use proc_macro2::{Literal, Span, TokenStream};
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
        // A bare number is the likeliest mistake, and which unit was meant is not known (other
        // crates count milliseconds, this one's examples seconds): offer both.
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => {
            let n = int.base10_digits();
            return Err(syn::Error::new(
                int.span(),
                format!(
                    "expected a string like `{quoted}` for `{key}`, found `{int}`; \
                     give the unit too: `{key} = \"{n}ms\"` for milliseconds, or \
                     `{key} = \"{n}s\"` for seconds"
                ),
            ));
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

/// `::core::time::Duration::from_secs(30)` for whole seconds, `from_millis(1500)` for whole
/// milliseconds, else `Duration::new(secs, nanos)`: the shortest exact form, as a person writes it.
pub(crate) fn to_tokens(duration: Duration) -> TokenStream {
    let whole = |unit: u128| {
        let count = duration.as_nanos() / unit;
        (count * unit == duration.as_nanos())
            .then(|| u64::try_from(count).ok())
            .flatten()
            .map(Literal::u64_unsuffixed)
    };
    if let Some(secs) = whole(1_000_000_000) {
        quote!(::core::time::Duration::from_secs(#secs))
    } else if let Some(millis) = whole(1_000_000) {
        quote!(::core::time::Duration::from_millis(#millis))
    } else {
        let secs = Literal::u64_unsuffixed(duration.as_secs());
        let nanos = Literal::u32_unsuffixed(duration.subsec_nanos());
        quote!(::core::time::Duration::new(#secs, #nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_the_shortest_exact_form() {
        let cases = [
            (
                Duration::from_secs(30),
                ":: core :: time :: Duration :: from_secs (30)",
            ),
            (
                Duration::from_millis(1500),
                ":: core :: time :: Duration :: from_millis (1500)",
            ),
            (
                Duration::from_micros(1500),
                ":: core :: time :: Duration :: new (0 , 1500000)",
            ),
            (
                Duration::new(2, 1),
                ":: core :: time :: Duration :: new (2 , 1)",
            ),
            (
                Duration::from_secs(u64::MAX),
                ":: core :: time :: Duration :: from_secs (18446744073709551615)",
            ),
            (
                Duration::new(u64::MAX, 999_999_999),
                ":: core :: time :: Duration :: new (18446744073709551615 , 999999999)",
            ),
        ];
        for (duration, expected) in cases {
            assert_eq!(to_tokens(duration).to_string(), expected, "{duration:?}");
        }
    }
}
