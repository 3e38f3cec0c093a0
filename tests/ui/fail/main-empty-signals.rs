#[lifecycle::main(signals = [])]
async fn main() {}
