struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown(order = 3000000000)]
    async fn close(&self) {}

    #[on_shutdown(order = -2147483649)]
    async fn flush(&self) {}
}

fn main() {}
