struct Db;

trait Close {
    fn close(&self);
}

#[lifecycle::component]
impl Close for Db {
    #[on_shutdown]
    fn close(&self) {}
}

fn main() {}
