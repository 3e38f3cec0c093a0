struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    unsafe fn close(&self) {}
}

fn main() {}
