struct Db;

#[lifecycle::component]
impl Db {
    #[persist(evry = "10s")]
    async fn save(&self) {}
}

fn main() {}
