#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle, port: u16) {
    let _ = (lc, port);
}
