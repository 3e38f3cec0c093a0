#[lifecycle::on_shutdown]
unsafe fn flush() {}

fn main() {}
