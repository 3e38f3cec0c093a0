use lifecycle::CancellationToken;

struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    async fn consume(&self, token: CancellationToken, batch: usize) {
        let _ = (token, batch);
    }
}

fn main() {}
