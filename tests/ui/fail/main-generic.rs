#[lifecycle::main]
async fn main<T>() {}
