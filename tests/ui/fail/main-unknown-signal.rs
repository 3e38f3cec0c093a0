#[lifecycle::main(signals = [SIGTERM, SIGUSR1, TERM])]
async fn main() {}
