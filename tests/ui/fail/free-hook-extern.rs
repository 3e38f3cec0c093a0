#[lifecycle::on_shutdown]
extern "C" fn flush() {}

fn main() {}
