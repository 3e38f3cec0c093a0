#[lifecycle::persist(grace = "10s", ordr = 1)]
async fn save() {}

fn main() {}
