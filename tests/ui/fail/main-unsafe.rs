#[lifecycle::main]
async unsafe fn main() {}
