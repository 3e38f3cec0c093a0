struct Pool;

#[lifecycle::component]
impl Pool {
    #[check]
    #[on_shutdown]
    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
