#[derive(Debug)]
struct AppError;

#[lifecycle::main(grace = "1s")]
async fn main(_lc: lifecycle::Lifecycle) -> Result<(), AppError> {
    let parsed: u16 = "8080".parse().map_err(|_| AppError)?;
    assert_eq!(parsed, 8080);
    Ok(())
}
