//! The report as one JSON line (the tests crate turns on the runtime's `serde` feature).

#[lifecycle::main(report = "json")]
async fn main() {}
