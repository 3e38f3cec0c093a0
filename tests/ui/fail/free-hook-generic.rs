#[lifecycle::persist]
fn save<T: Default>() {
    let _ = T::default();
}

fn main() {}
