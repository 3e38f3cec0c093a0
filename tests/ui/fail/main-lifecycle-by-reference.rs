#[lifecycle::main]
async fn main(lc: &lifecycle::Lifecycle) {
    let _ = lc;
}
