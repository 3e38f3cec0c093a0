struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown = "close"]
    async fn close(&self) {}
}

fn main() {}
