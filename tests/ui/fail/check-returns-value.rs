struct Pool;

#[lifecycle::component]
impl Pool {
    #[check]
    async fn ping(&self) -> bool {
        true
    }
}

fn main() {}
