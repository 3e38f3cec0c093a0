use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    #[on_shutdown(order = 1)]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
