struct Db;

#[lifecycle::component]
impl Db {
    #[persist]
    fn save(&mut self) {}
}

fn main() {}
