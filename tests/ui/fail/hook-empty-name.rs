struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(name = "")]
    async fn close(&self) {}
}

fn main() {}
