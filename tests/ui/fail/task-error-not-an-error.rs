// A tracked task whose error type has `Debug` and `Display` but is not a `std::error::Error`:
// the report could not keep it (nor its cause).
use std::fmt;

#[derive(Debug)]
struct FetchError;

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream refused")
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.task("fetch").spawn(async { Err::<(), _>(FetchError) });
}
