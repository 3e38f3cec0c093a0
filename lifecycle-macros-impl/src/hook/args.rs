//! The arguments of `#[on_start(...)]`, `#[on_reload(...)]`, `#[on_shutdown(...)]` and
//! `#[persist(...)]`, shared by methods in a
//! `#[lifecycle::component]` impl and by free functions.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};

use super::HookKind;
use crate::args;
use crate::duration::{self, Zero};
use crate::errors::Errors;

fn keys(kind: HookKind) -> &'static [&'static str] {
    match kind {
        HookKind::Shutdown | HookKind::Start | HookKind::Reload => &["order", "timeout", "name"],
        HookKind::Persist => &["every", "timeout", "order", "name"],
    }
}

/// Keys of a sibling attribute, with the message to give instead of "unknown key".
fn misplaced_keys(kind: HookKind) -> &'static [(&'static str, &'static str)] {
    const HOOK_TIMEOUT: (&str, &str) = (
        "hook_timeout",
        "a hook's own limit is `timeout = \"5s\"`; `hook_timeout` is the default for all \
         hooks, set on `#[lifecycle::main]`",
    );
    match kind {
        HookKind::Shutdown => &[
            (
                "every",
                "`every` is only for `#[persist]` hooks: a shutdown hook runs once; \
                 use `#[persist(every = \"10s\")]` to also run it periodically",
            ),
            HOOK_TIMEOUT,
        ],
        HookKind::Persist => &[HOOK_TIMEOUT],
        HookKind::Start => &[
            (
                "every",
                "`every` is only for `#[persist]` hooks: a start hook runs once, before the \
                 service is Ready; use `#[persist(every = \"10s\")]` for periodic work",
            ),
            (
                "startup_timeout",
                "a start hook's own limit is `timeout = \"10s\"`; `startup_timeout` bounds \
                 the whole start phase, set on `#[lifecycle::main]`",
            ),
            HOOK_TIMEOUT,
        ],
        HookKind::Reload => &[
            (
                "every",
                "`every` is only for `#[persist]` hooks: a reload hook runs on SIGHUP or \
                 `lc.request_reload()`; use `#[persist(every = \"10s\")]` for periodic work",
            ),
            HOOK_TIMEOUT,
        ],
    }
}

/// A hook's arguments; `None` means the runtime default (order 0, the config's hook timeout,
/// the hook's path as its name, no periodic run).
#[derive(Default)]
pub(crate) struct HookArgs {
    pub(crate) order: Option<(i32, Span)>,
    pub(crate) timeout: Option<(Duration, Span)>,
    pub(crate) every: Option<(Duration, Span)>,
    pub(crate) name: Option<(String, Span)>,
}

impl HookArgs {
    /// Reads `order = N, timeout = "..", every = "..", name = ".."`; `attribute` is how the user
    /// wrote the attribute, for messages.
    pub(crate) fn parse(
        kind: HookKind,
        tokens: TokenStream,
        attribute: &str,
        errors: &mut Errors,
    ) -> HookArgs {
        let mut hook = HookArgs::default();
        let Some(list) = errors.check(args::parse_args(tokens)) else {
            return hook;
        };
        for arg in args::known_keys(&list, attribute, keys(kind), misplaced_keys(kind), errors) {
            match arg.name().as_str() {
                "order" => {
                    let order = arg.value("10").and_then(|value| {
                        let span = syn::spanned::Spanned::span(value);
                        args::order(value).map(|order| (order, span))
                    });
                    hook.order = errors.check(order);
                }
                "timeout" => {
                    hook.timeout = errors.check(duration::parse(arg, "5s", Zero::Rejected));
                }
                "every" => {
                    hook.every = errors.check(duration::parse(arg, "10s", Zero::Rejected));
                }
                "name" => hook.name = errors.check(name(arg)),
                _ => {}
            }
        }
        hook
    }
}

fn name(arg: &args::Arg) -> syn::Result<(String, Span)> {
    let lit = args::string(
        arg.value("\"close database\"")?,
        "name",
        "\"close database\"",
    )?;
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "empty `name`: give the hook a name to show in the report, or leave `name` out \
             to use its path",
        ));
    }
    Ok((value, lit.span()))
}
