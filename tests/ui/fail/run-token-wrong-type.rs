struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    async fn consume(&self, token: std::time::Duration) {
        let _ = token;
    }
}

fn main() {}
