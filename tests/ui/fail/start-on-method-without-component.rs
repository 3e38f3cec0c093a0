struct Db;

impl Db {
    #[lifecycle::on_start]
    async fn connect(&self) {}
}

fn main() {}
