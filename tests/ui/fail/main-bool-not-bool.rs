#[lifecycle::main(force_on_second_signal = "yes")]
async fn main() {}
