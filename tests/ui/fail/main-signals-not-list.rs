#[lifecycle::main(signals = SIGTERM)]
async fn main() {}
