//! The `orders` service's binary: the service is `lifecycle_examples::orders::app` (in
//! `examples/src/orders.rs`, where its documentation is; its expansion is in
//! `expanded/src/orders.rs`), declared once as a `lifecycle::App` and run here as the process.
//!
//! ```text
//! STATE_DIR=/tmp/orders cargo run -p lifecycle-examples --features orders --bin orders
//! ```

use std::process::ExitCode;

use lifecycle_examples::orders::{app, Settings};

fn main() -> ExitCode {
    match Settings::from_env() {
        Ok(settings) => app(settings).run(),
        Err(err) => {
            eprintln!("orders: {err}");
            ExitCode::from(lifecycle::exit::EXIT_CONFIG)
        }
    }
}
