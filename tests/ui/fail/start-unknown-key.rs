#[lifecycle::on_start(ordr = 1)]
async fn connect() {}

fn main() {}
