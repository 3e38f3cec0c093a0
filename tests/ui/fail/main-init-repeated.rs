fn setup_logging() {}
fn setup_metrics() {}

#[lifecycle::main(init = setup_logging, init = setup_metrics)]
async fn main() {}
