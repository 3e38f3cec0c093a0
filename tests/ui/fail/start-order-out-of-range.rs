#[lifecycle::on_start(order = 3000000000)]
async fn connect() {}

fn main() {}
