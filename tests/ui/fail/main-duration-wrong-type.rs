#[lifecycle::main(drain_delay = true)]
async fn main() {}
