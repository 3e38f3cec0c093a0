use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1, max_restarts = 5)]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
