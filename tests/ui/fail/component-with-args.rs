struct Db;

#[lifecycle::component(order = 10)]
impl Db {
    #[on_shutdown]
    fn close(&self) {}
}

fn main() {}
