struct Db;

#[lifecycle::component]
impl Db {
    #[persist(every = "0ms")]
    async fn save(&self) {}
}

fn main() {}
