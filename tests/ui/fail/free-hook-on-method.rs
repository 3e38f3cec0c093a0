struct Db;

impl Db {
    #[lifecycle::on_shutdown]
    async fn close(&self) {}
}

fn main() {}
