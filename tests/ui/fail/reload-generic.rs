#[lifecycle::on_reload]
fn reread<T: Default>() {
    let _ = T::default();
}

fn main() {}
