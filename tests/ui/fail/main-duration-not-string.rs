#[lifecycle::main(grace = 30)]
async fn main() {}
