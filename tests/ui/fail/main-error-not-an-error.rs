struct AppError;

#[lifecycle::main]
async fn main() -> Result<(), AppError> {
    Err(AppError)
}
