// The body returns at once: the shutdown runs and the process exits 0.
#[lifecycle::main]
async fn main() {}
