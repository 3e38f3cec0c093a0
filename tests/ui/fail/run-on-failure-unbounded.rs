use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(restart = "on-failure")]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
