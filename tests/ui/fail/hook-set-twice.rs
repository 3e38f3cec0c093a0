struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(order = 1)]
    #[lifecycle::on_shutdown(order = 2)]
    async fn close(&self) {}
}

fn main() {}
