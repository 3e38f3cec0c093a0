// A hook returning `Result<(), ()>`: the crate's message, not the `From` bound inside `Box`.
#[lifecycle::on_shutdown]
async fn flush_metrics() -> Result<(), ()> {
    Err(())
}

fn main() {}
