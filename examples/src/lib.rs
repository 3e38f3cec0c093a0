//! The examples' shared code: services declared once as a `lifecycle::App`, run by their binary
//! and tested in-process.

#[cfg(feature = "orders")]
pub mod orders;
