#[lifecycle::on_shutdown]
fn flush() -> Option<()> {
    None
}

fn main() {}
