// A type error in the body is reported in the body, not in generated code.
#[lifecycle::main]
async fn main() -> Result<(), std::io::Error> {
    let port: u16 = "8080";
    let _ = port;
    Ok(())
}
