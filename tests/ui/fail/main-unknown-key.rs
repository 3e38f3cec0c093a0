#[lifecycle::main(grce = "30s")]
async fn main() {}
