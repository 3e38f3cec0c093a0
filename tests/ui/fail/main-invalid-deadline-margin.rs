#[lifecycle::main(deadline_margin = "1x")]
async fn main() {}
