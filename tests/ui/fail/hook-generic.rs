struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close<T: Default>(&self) {
        let _ = T::default();
    }
}

fn main() {}
