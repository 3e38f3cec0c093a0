#[lifecycle::main(grace)]
async fn main() {}
