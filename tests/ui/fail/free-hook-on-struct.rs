#[lifecycle::persist]
struct Offsets;

fn main() {}
