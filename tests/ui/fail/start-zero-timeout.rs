struct Db;

#[lifecycle::component]
impl Db {
    #[on_start(timeout = "0s")]
    async fn connect(&self) {}
}

fn main() {}
