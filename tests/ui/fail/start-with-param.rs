#[lifecycle::on_start(order = 1)]
async fn connect(url: &str) {
    let _ = url;
}

fn main() {}
