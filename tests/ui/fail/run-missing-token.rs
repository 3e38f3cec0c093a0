struct Consumer;

#[lifecycle::component]
impl Consumer {
    #[run(stage = 1)]
    async fn consume(&self) {}
}

fn main() {}
