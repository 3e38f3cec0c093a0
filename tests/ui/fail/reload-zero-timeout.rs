#[lifecycle::on_reload(timeout = "0ms")]
fn reread() {}

fn main() {}
