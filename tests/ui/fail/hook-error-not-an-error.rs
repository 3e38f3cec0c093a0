struct Db;

#[derive(Debug)]
struct CloseError;

#[lifecycle::component]
impl Db {
    #[on_shutdown]
    async fn close(&self) -> Result<(), CloseError> {
        Err(CloseError)
    }
}

fn main() {}
