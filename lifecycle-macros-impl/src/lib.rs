//! The `lifecycle` attribute macros at the `proc_macro2` level, as an ordinary library: the
//! proc-macro crate `lifecycle-macros` converts its tokens and calls these, and the expansion
//! test runs them on the examples. Not a public API: use the attributes through `lifecycle`.
//!
//! One module per attribute, each reading parse → validate → expand:
//!
//! - `entry`: `#[lifecycle::main]` (the program's entry point, as in tokio-macros);
//! - `component`: `#[lifecycle::component]`;
//! - `hook`: `#[lifecycle::on_start]`, `#[lifecycle::on_reload]`,
//!   `#[lifecycle::on_shutdown]` and `#[lifecycle::persist]` on a free function, and
//!   the hook model the component shares;
//!
//! and what they share: the `key = value` syntax (`args`, `duration`), the item parser
//! (`item`), the one signature check (`signature`) and the error collector (`errors`).
//! Every problem becomes a `syn::Error` on the tightest span; all of them are emitted together,
//! after the item, so that no follow-up errors appear.
//!
//! The modules are private: their pages are built with `cargo doc -p lifecycle-macros-impl
//! --document-private-items` (as CI does), which is why the list above names them without
//! linking to them.

mod args;
mod component;
mod duration;
mod entry;
mod errors;
mod hook;
mod item;
mod signature;

use proc_macro2::TokenStream;

use hook::HookKind;

/// `#[lifecycle::main(...)]` on `async fn main`.
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::main(args, item)
}

/// `#[lifecycle::component]` on an inherent impl block.
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    component::component(args, item)
}

/// `#[lifecycle::on_shutdown(...)]` on a free function.
pub fn on_shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    hook::free_hook(HookKind::Shutdown, args, item)
}

/// `#[lifecycle::persist(...)]` on a free function.
pub fn persist(args: TokenStream, item: TokenStream) -> TokenStream {
    hook::free_hook(HookKind::Persist, args, item)
}

/// `#[lifecycle::run(...)]` expanded by itself, outside a `#[lifecycle::component]` impl block
/// (which reads the attribute before it would expand): always a compile error saying where it
/// goes. The arguments are not read.
pub fn run(_args: TokenStream, item: TokenStream) -> TokenStream {
    component::run::outside_component(item)
}

/// `#[lifecycle::on_start(...)]` on a free function.
pub fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    hook::free_hook(HookKind::Start, args, item)
}

/// `#[lifecycle::on_reload(...)]` on a free function.
pub fn on_reload(args: TokenStream, item: TokenStream) -> TokenStream {
    hook::free_hook(HookKind::Reload, args, item)
}

/// Every key `#[lifecycle::main]` accepts, in the order its errors list them, and for a
/// duration or a count whether zero is accepted (`Some(true)`: allowed). Not a public API: the
/// workspace's tests check it against the runtime's table of settings
/// (`lifecycle::__private::settings()`), since this crate cannot depend on the runtime.
#[doc(hidden)]
pub fn main_keys() -> Vec<(&'static str, Option<bool>)> {
    entry::args::zero_rules()
}

/// The signal names `signals = [...]` accepts, each with the `lifecycle::Signal` variant it
/// becomes. Not a public API: for the same check as [`main_keys`].
#[doc(hidden)]
pub fn signal_names() -> Vec<(&'static str, &'static str)> {
    entry::args::SIGNALS.to_vec()
}
