struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    const LIMIT: u32 = 3;

    #[on_shutdown]
    async fn close(&self) {}
}

fn main() {}
