// `Err(())` says nothing the report could print: the crate's message says what an error must be.
#[lifecycle::main]
async fn main() -> Result<(), ()> {
    Err(())
}
