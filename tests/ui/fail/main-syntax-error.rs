#[lifecycle::main(grace = "30s" drain_delay = "5s")]
async fn main() {}
