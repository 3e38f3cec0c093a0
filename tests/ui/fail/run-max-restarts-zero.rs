use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(restart = "on-failure", max_restarts = 0)]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
