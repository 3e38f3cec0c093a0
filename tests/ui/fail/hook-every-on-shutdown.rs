struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(every = "10s")]
    async fn close(&self) {}
}

fn main() {}
