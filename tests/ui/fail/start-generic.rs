#[lifecycle::on_start]
async fn connect<T: Default>() {
    let _ = T::default();
}

fn main() {}
