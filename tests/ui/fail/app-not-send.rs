use lifecycle::Lifecycle;

#[lifecycle::main]
async fn service(lc: Lifecycle) {
    let local = std::rc::Rc::new(1);
    lc.cancelled().await;
    drop(local);
}

fn main() {}
