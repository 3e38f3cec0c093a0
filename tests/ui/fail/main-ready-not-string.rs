#[lifecycle::main(ready = manual)]
async fn main() {}
