#[lifecycle::on_shutdown(timeout = "soon")]
async fn flush() {}

fn main() {}
