struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    const fn close(&self) {}
}

fn main() {}
