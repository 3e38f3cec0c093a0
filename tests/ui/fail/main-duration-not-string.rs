// A bare number: milliseconds or seconds? The message offers both.
#[lifecycle::main(grace = 1000)]
async fn main() {}
