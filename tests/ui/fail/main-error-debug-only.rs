// An error type with only `Debug` is not a `std::error::Error`: the report could not print it.
#[derive(Debug)]
struct AppError;

#[lifecycle::main]
async fn main() -> Result<(), AppError> {
    Err(AppError)
}
