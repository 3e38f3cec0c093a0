#[lifecycle::component]
struct Db;

fn main() {}
