struct Db;

#[lifecycle::component]
impl Db {
    fn close(&self) {}
}

fn main() {}
