#[lifecycle::main(ready = "manul")]
async fn main() {}
