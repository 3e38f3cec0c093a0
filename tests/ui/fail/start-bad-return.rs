#[lifecycle::on_start]
async fn connect() -> u32 {
    7
}

fn main() {}
