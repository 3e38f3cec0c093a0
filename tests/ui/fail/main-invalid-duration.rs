#[lifecycle::main(grace = "30x")]
async fn main() {}
