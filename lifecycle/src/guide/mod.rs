//! Guides: how to start, stop, deploy and port a service, one page each.
//!
//! These pages are documentation only (no items). Their text lives in `lifecycle/docs/*.md`,
//! readable on GitHub as well; every Rust example in them is a doctest of this crate.

#[doc = include_str!("../../docs/start-up.md")]
pub mod start_up {}

#[doc = include_str!("../../docs/stopping.md")]
pub mod stopping {}

#[doc = include_str!("../../docs/kubernetes.md")]
pub mod kubernetes {}

#[doc = include_str!("../../docs/systemd.md")]
pub mod systemd {}

#[doc = include_str!("../../docs/grpc.md")]
pub mod grpc {}

#[doc = include_str!("../../docs/porting-from-token-and-tracker.md")]
pub mod from_token_and_tracker {}

#[doc = include_str!("../../docs/porting-from-tokio-graceful-shutdown.md")]
pub mod from_tokio_graceful_shutdown {}
