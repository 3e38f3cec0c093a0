struct Db;

#[lifecycle::component]
impl Db {
    #[on_start(order = "10")]
    async fn connect(&self) {}
}

fn main() {}
