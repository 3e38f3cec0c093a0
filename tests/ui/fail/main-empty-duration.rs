#[lifecycle::main(drain_delay = "")]
async fn main() {}
