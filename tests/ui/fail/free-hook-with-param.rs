#[lifecycle::on_shutdown]
async fn flush(force: bool) {
    let _ = force;
}

fn main() {}
