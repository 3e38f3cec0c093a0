struct Pool;

#[lifecycle::component]
impl Pool {
    #[check(every = "5s", failures = 0)]
    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
