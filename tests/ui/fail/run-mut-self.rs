use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    async fn consume(&mut self, token: CancellationToken) {
        token.cancelled().await
    }
}

fn main() {}
