#[lifecycle::main]
fn main() {}
