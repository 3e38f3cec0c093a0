struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close(&self, force: bool) {
        let _ = force;
    }
}

fn main() {}
