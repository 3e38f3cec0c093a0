#[lifecycle::on_shutdown(hook_timeout = "1s")]
async fn flush() {}

fn main() {}
