#[lifecycle::main(startup_timeout = "1 minute")]
async fn main() {}
