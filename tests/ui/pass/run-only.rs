//! A component whose only part is a `#[lifecycle::run]` method (qualified form, unstaged,
//! restart = "never") on a generic type, and one compiled out by `#[cfg]`.

use std::sync::Arc;

use lifecycle::CancellationToken;

struct Poller<T>(T);

#[lifecycle::component]
impl<T: Send + Sync + 'static> Poller<T> {
    #[lifecycle::run(restart = "never")]
    async fn poll(&self, token: CancellationToken) {
        token.cancelled().await
    }

    /// Compiled out: not referred to by the generated `runs`.
    #[cfg(any())]
    #[run(stage = 2)]
    async fn never_compiled(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Poller(1u8)));
}
