struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(timeout = "0s")]
    async fn close(&self) {}
}

fn main() {}
