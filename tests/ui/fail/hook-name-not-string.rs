struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(name = close_db)]
    async fn close(&self) {}
}

fn main() {}
