struct Db;

#[lifecycle::component]
impl Db {
    #[on_start(startup_timeout = "1m")]
    async fn migrate(&self) {}
}

fn main() {}
