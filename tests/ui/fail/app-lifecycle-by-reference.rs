#[lifecycle::main]
async fn service(lc: &lifecycle::Lifecycle, port: u16) {
    let _ = (lc, port);
}

fn main() {}
