struct Pool;

#[lifecycle::component]
impl Pool {
    #[check]
    fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
