#[derive(Debug)]
struct AppError;

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad port")
    }
}

impl std::error::Error for AppError {}

#[lifecycle::main(grace = "1s")]
async fn main(_lc: lifecycle::Lifecycle) -> Result<(), AppError> {
    let parsed: u16 = "8080".parse().map_err(|_| AppError)?;
    assert_eq!(parsed, 8080);
    Ok(())
}
