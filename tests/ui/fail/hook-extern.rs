struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    extern "C" fn close(&self) {}
}

fn main() {}
