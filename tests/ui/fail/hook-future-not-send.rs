use std::rc::Rc;

struct Db;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close(&self) {
        let held = Rc::new(1);
        std::future::ready(()).await;
        let _ = held;
    }
}

fn main() {}
