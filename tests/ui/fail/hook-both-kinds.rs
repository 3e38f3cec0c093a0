struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    #[persist]
    async fn close(&self) {}
}

fn main() {}
