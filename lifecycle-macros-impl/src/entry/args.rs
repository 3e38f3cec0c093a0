//! The arguments of `#[lifecycle::main(...)]`, read into [`MainArgs`] and checked as a whole.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::{Expr, ExprLit, Lit};

use crate::args::{self, Arg};
use crate::duration::{self, Zero};
use crate::errors::Errors;

const ATTRIBUTE: &str = "#[lifecycle::main]";

/// Every key, in the order the "valid keys" of an error list them; for a duration or a count,
/// whether zero is accepted. The one place the macro decides that: the runtime's table of
/// settings decides the same for `Config`, and `tests/tests/settings.rs` checks that the two
/// agree (through [`zero_rules`]).
const KEYS: &[(&str, Option<Zero>)] = &[
    ("grace", Some(Zero::Rejected)),
    ("drain_delay", Some(Zero::Allowed)),
    ("hook_timeout", Some(Zero::Rejected)),
    ("signals", None),
    ("force_on_second_signal", None),
    ("flavor", None),
    ("worker_threads", Some(Zero::Rejected)),
    ("repeat_window", Some(Zero::Allowed)),
    ("deadline_margin", Some(Zero::Allowed)),
    ("init", None),
    ("startup_timeout", Some(Zero::Rejected)),
    ("ready", None),
    ("report", None),
    ("upgrade_timeout", Some(Zero::Rejected)),
];

/// Whether `key` accepts zero, by [`KEYS`] (a key that is no number there refuses it).
fn zero(key: &str) -> Zero {
    KEYS.iter()
        .find_map(|(name, zero)| (*name == key).then_some(*zero))
        .flatten()
        .unwrap_or(Zero::Rejected)
}

/// Every key, and for a duration or a count whether zero is accepted (`Some(true)`: allowed):
/// for the workspace's check against the runtime's table of settings.
pub(crate) fn zero_rules() -> Vec<(&'static str, Option<bool>)> {
    KEYS.iter()
        .map(|(key, zero)| (*key, zero.map(|zero| zero == Zero::Allowed)))
        .collect()
}

const MISPLACED_KEYS: &[(&str, &str)] = &[
    (
        "timeout",
        "unknown key `timeout` in `#[lifecycle::main]`: the default limit for every hook is \
         `hook_timeout = \"5s\"`; a single hook's limit goes on the hook",
    ),
    (
        "order",
        "`order` goes on a hook (`#[on_shutdown(order = 10)]`), not on `#[lifecycle::main]`",
    ),
];

/// The signal names `signals = [...]` accepts, and the `Signal` variant each maps to.
pub(crate) const SIGNALS: &[(&str, &str)] = &[
    ("SIGTERM", "Terminate"),
    ("SIGINT", "Interrupt"),
    ("SIGQUIT", "Quit"),
    ("SIGHUP", "Hangup"),
];

/// When the service becomes Ready: `ready = "auto"` (after the start hooks, the default) or
/// `ready = "manual"` (after the start hooks and `lc.set_ready()`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    Auto,
    Manual,
}

/// How the shutdown report is printed at the end: `report = "text"` (the default) or
/// `report = "json"` (one JSON line; needs the runtime's `serde` feature: this crate cannot see
/// the runtime's features, so the expansion calls a `const fn` of the runtime that is a compile
/// error without it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Text,
    Json,
}

/// Which Tokio runtime to build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    MultiThread,
    CurrentThread,
}

/// The attribute's arguments; `None` means the runtime's default. Each value keeps the span of
/// what the user wrote for checks that involve two keys.
#[derive(Default)]
pub(crate) struct MainArgs {
    pub(crate) grace: Option<(Duration, Span)>,
    pub(crate) drain_delay: Option<(Duration, Span)>,
    pub(crate) hook_timeout: Option<(Duration, Span)>,
    /// `Signal` variant names, in the order written.
    pub(crate) signals: Option<(Vec<&'static str>, Span)>,
    pub(crate) force_on_second_signal: Option<(bool, Span)>,
    pub(crate) flavor: Option<(Flavor, Span)>,
    pub(crate) worker_threads: Option<(usize, Span)>,
    pub(crate) repeat_window: Option<(Duration, Span)>,
    pub(crate) deadline_margin: Option<(Duration, Span)>,
    /// The function to call first, before anything else in `main`.
    pub(crate) init: Option<syn::ExprPath>,
    pub(crate) startup_timeout: Option<(Duration, Span)>,
    pub(crate) ready: Option<(Ready, Span)>,
    pub(crate) report: Option<(Report, Span)>,
    pub(crate) upgrade_timeout: Option<(Duration, Span)>,
}

impl MainArgs {
    /// Reads the arguments; every invalid one is recorded in `errors` and left at its default,
    /// so the expansion still compiles and shows no follow-up errors.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> MainArgs {
        let mut main = MainArgs::default();
        let Some(list) = errors.check(args::parse_args(tokens)) else {
            return main;
        };
        let keys: Vec<&str> = KEYS.iter().map(|(key, _)| *key).collect();
        for arg in args::known_keys(&list, ATTRIBUTE, &keys, MISPLACED_KEYS, errors) {
            let key = arg.name();
            match key.as_str() {
                "grace" => main.grace = errors.check(duration::parse(arg, "30s", zero(&key))),
                "drain_delay" => {
                    main.drain_delay = errors.check(duration::parse(arg, "5s", zero(&key)));
                }
                "hook_timeout" => {
                    main.hook_timeout = errors.check(duration::parse(arg, "5s", zero(&key)));
                }
                "signals" => main.signals = errors.check(signals(arg)),
                "force_on_second_signal" => {
                    main.force_on_second_signal = errors.check(
                        arg.value("true")
                            .and_then(|value| args::boolean(value, "force_on_second_signal"))
                            .map(|on| (on, arg.key.span())),
                    );
                }
                "flavor" => main.flavor = errors.check(flavor(arg)),
                "worker_threads" => main.worker_threads = errors.check(worker_threads(arg)),
                "repeat_window" => {
                    main.repeat_window = errors.check(duration::parse(arg, "50ms", zero(&key)));
                }
                "deadline_margin" => {
                    main.deadline_margin = errors.check(duration::parse(arg, "1s", zero(&key)));
                }
                "init" => main.init = errors.check(init(arg)),
                "startup_timeout" => {
                    main.startup_timeout = errors.check(duration::parse(arg, "60s", zero(&key)));
                }
                "ready" => main.ready = errors.check(ready(arg)),
                "report" => main.report = errors.check(report(arg)),
                "upgrade_timeout" => {
                    main.upgrade_timeout = errors.check(duration::parse(arg, "70s", zero(&key)));
                }
                _ => {}
            }
        }
        if let (Some((Flavor::CurrentThread, _)), Some((_, span))) =
            (main.flavor, main.worker_threads)
        {
            errors.add(
                span,
                "`worker_threads` is only for the `multi_thread` flavor: a `current_thread` \
                 runtime runs on one thread; remove `worker_threads` or use \
                 `flavor = \"multi_thread\"`",
            );
            main.worker_threads = None;
        }
        main
    }
}

fn signals(arg: &Arg) -> syn::Result<(Vec<&'static str>, Span)> {
    let names: Vec<&str> = SIGNALS.iter().map(|(name, _)| *name).collect();
    let list = args::quoted_list(&names);
    let value = arg.value("[SIGTERM, SIGINT]")?;
    let Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "expected a list like `[SIGTERM, SIGINT]` for `signals`, found {}",
                args::found(value)
            ),
        ));
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            array,
            format!(
                "`signals` is empty, so nothing could trigger a shutdown from outside; list some \
                 of {list}, or leave `signals` out for `SIGTERM`, `SIGINT` and `SIGQUIT`"
            ),
        ));
    }
    let mut errors = Errors::default();
    let mut chosen: Vec<(&str, &'static str)> = Vec::new();
    for elem in &array.elems {
        let name = match elem {
            Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
            _ => None,
        };
        let Some(name) = name else {
            let hint = match elem {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(_), ..
                }) => "; write the name without quotes, like `SIGTERM`",
                _ => "",
            };
            errors.push(syn::Error::new_spanned(
                elem,
                format!(
                    "expected a signal name, one of {list}, found {}{hint}",
                    args::found(elem)
                ),
            ));
            continue;
        };
        let written = name.to_string();
        match SIGNALS.iter().find(|(signal, _)| *signal == written) {
            Some((signal, _)) if chosen.iter().any(|(seen, _)| seen == signal) => {
                errors.add(
                    name.span(),
                    format!("`{signal}` is listed more than once in `signals`"),
                );
            }
            Some((signal, variant)) => chosen.push((signal, variant)),
            None => {
                let prefixed = format!("SIG{written}");
                let near = args::closest(&written, &names)
                    .or_else(|| names.iter().copied().find(|name| *name == prefixed));
                let hint = near.map_or(String::new(), |near| format!("did you mean `{near}`? "));
                errors.add(
                    name.span(),
                    format!("unknown signal `{written}`; {hint}expected one of {list}"),
                );
            }
        }
    }
    errors.into_result()?;
    let variants = chosen.into_iter().map(|(_, variant)| variant).collect();
    Ok((variants, arg.key.span()))
}

/// `init = setup_logging`: a path, which the expansion pins to `fn()`.
fn init(arg: &Arg) -> syn::Result<syn::ExprPath> {
    const EXAMPLE: &str = "init = setup_logging";
    match arg.value("setup_logging")? {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Ok(path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let hint = match lit.parse::<syn::Path>() {
                Ok(path) => format!(
                    "write the path without quotes: `init = {}`",
                    path_text(&path)
                ),
                Err(_) => format!("write the path of a function, like `{EXAMPLE}`"),
            };
            Err(syn::Error::new(
                lit.span(),
                format!("expected a path to a `fn()` for `init`, found a string; {hint}"),
            ))
        }
        Expr::Call(call) if call.args.is_empty() && matches!(&*call.func, Expr::Path(_)) => {
            let func = &call.func;
            Err(syn::Error::new_spanned(
                call,
                format!(
                    "expected a path to a `fn()` for `init`, found a call; name the function \
                     without calling it: `init = {}`",
                    args::found(func).trim_matches('`')
                ),
            ))
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected a path to a `fn()` like `{EXAMPLE}` for `init`, found {}; name a \
                 function that takes nothing and returns nothing",
                args::found(other)
            ),
        )),
    }
}

/// `a::b::c` as written, without the spaces of a token stream.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let leading = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{leading}{}", segments.join("::"))
}

fn report(arg: &Arg) -> syn::Result<(Report, Span)> {
    const CHOICES: &[&str] = &["text", "json"];
    let lit = args::string(arg.value("\"json\"")?, "report", "\"json\"")?;
    match lit.value().as_str() {
        "text" => Ok((Report::Text, lit.span())),
        "json" => Ok((Report::Json, lit.span())),
        other => {
            let hint = args::closest(other, CHOICES)
                .map_or(String::new(), |near| format!("did you mean `\"{near}\"`? "));
            Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown report format `{other}`; {hint}expected `\"text\"` (the shutdown \
                     report as lines of text) or `\"json\"` (one JSON line; needs the `serde` \
                     feature of lifecycle)"
                ),
            ))
        }
    }
}

fn ready(arg: &Arg) -> syn::Result<(Ready, Span)> {
    const CHOICES: &[&str] = &["auto", "manual"];
    let lit = args::string(arg.value("\"manual\"")?, "ready", "\"manual\"")?;
    match lit.value().as_str() {
        "auto" => Ok((Ready::Auto, lit.span())),
        "manual" => Ok((Ready::Manual, lit.span())),
        other => {
            let hint = args::closest(other, CHOICES)
                .map_or(String::new(), |near| format!("did you mean `\"{near}\"`? "));
            Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown readiness `{other}`; {hint}expected `\"auto\"` (Ready once the \
                     start hooks succeeded) or `\"manual\"` (Ready once they succeeded and \
                     the app called `lc.set_ready()`)"
                ),
            ))
        }
    }
}

fn flavor(arg: &Arg) -> syn::Result<(Flavor, Span)> {
    const FLAVORS: &[&str] = &["multi_thread", "current_thread"];
    let lit = args::string(
        arg.value("\"current_thread\"")?,
        "flavor",
        "\"current_thread\"",
    )?;
    match lit.value().as_str() {
        "multi_thread" => Ok((Flavor::MultiThread, lit.span())),
        "current_thread" => Ok((Flavor::CurrentThread, lit.span())),
        other => {
            let hint = args::closest(other, FLAVORS)
                .map_or(String::new(), |near| format!("did you mean `\"{near}\"`? "));
            Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown flavor `{other}`; {hint}expected `\"multi_thread\"` or \
                     `\"current_thread\"`"
                ),
            ))
        }
    }
}

fn worker_threads(arg: &Arg) -> syn::Result<(usize, Span)> {
    let value = arg.value("4")?;
    let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "expected an integer like `worker_threads = 4` for `worker_threads`, found {}",
                args::found(value)
            ),
        ));
    };
    let threads: usize = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("`worker_threads = {lit}` is out of range: expected a thread count like `4`"),
        )
    })?;
    if threads == 0 && zero("worker_threads") == Zero::Rejected {
        return Err(syn::Error::new(
            lit.span(),
            "`worker_threads` must be at least 1, found `0`; remove it to get one worker per CPU",
        ));
    }
    Ok((threads, arg.key.span()))
}
