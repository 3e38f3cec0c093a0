#[lifecycle::on_start]
struct Db;

fn main() {}
