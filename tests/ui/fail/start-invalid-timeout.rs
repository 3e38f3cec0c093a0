#[lifecycle::on_start(timeout = "10 secs and a bit")]
async fn migrate() {}

fn main() {}
