use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 256)]
    async fn consume(&self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
