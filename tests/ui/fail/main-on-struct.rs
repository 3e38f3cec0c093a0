#[lifecycle::main]
struct App;

fn main() {}
