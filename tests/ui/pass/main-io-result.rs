#[lifecycle::main]
async fn main() -> std::io::Result<()> {
    Ok(())
}
