#[lifecycle::main(startup_timeout = "0s")]
async fn main() {}
