struct Cache;

#[lifecycle::component]
impl Cache {
    #[on_start(every = "10s")]
    async fn warm(&self) {}
}

fn main() {}
