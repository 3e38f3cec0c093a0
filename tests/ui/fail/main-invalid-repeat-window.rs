#[lifecycle::main(repeat_window = "50 millis please")]
async fn main() {}
