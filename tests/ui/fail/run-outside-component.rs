// `#[lifecycle::run]` on a method of an impl block without `#[lifecycle::component]`: nothing
// would spawn it.
use lifecycle::CancellationToken;

struct Consumer;

impl Consumer {
    #[lifecycle::run(restart = "on-failure", max_restarts = 3)]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
