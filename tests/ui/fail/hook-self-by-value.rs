struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close(self) {}
}

fn main() {}
