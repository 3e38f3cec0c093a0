#[lifecycle::main(startup_timeout = "1 mn")]
async fn main() {}
