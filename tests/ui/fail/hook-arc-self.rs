use std::sync::Arc;

struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close(self: Arc<Self>) {}
}

fn main() {}
