#[lifecycle::main(report = "jsn")]
async fn main() {}
