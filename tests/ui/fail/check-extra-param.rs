struct Pool;

#[lifecycle::component]
impl Pool {
    #[check(every = "5s")]
    async fn ping(&self, attempts: u32) -> Result<(), String> {
        let _ = attempts;
        Ok(())
    }
}

fn main() {}
