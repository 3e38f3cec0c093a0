fn setup_logging(level: u8) {
    let _ = level;
}

#[lifecycle::main(init = setup_logging)]
async fn main() {}
