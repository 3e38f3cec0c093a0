// A tracked task failing with `()`: the crate's message says what an error must be.
#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.spawn(async { Err::<(), ()>(()) });
}
