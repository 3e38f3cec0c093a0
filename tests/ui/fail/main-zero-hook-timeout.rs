#[lifecycle::main(hook_timeout = "0ms")]
async fn main() {}
