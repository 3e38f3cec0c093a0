struct Pool;

#[lifecycle::component]
impl Pool {
    #[check(every = "5x", timeot = "1s", order = 3, failures = "3", name = "")]
    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
