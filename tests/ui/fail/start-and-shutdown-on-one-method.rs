struct Db;

#[lifecycle::component]
impl Db {
    #[on_start]
    #[on_shutdown]
    async fn toggle(&self) {}
}

fn main() {}
