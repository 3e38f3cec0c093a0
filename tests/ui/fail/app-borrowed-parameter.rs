use lifecycle::Lifecycle;

#[lifecycle::main]
async fn service(lc: Lifecycle, name: &str) {
    let _ = (lc, name);
}

fn main() {}
