fn setup_logging() {}

#[lifecycle::main(init = setup_logging())]
async fn main() {}
