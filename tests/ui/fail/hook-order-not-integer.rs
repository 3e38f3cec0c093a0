struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(order = "10")]
    async fn close(&self) {}
}

fn main() {}
