#[lifecycle::on_start(timeout = "10 seconds")]
async fn migrate() {}

fn main() {}
