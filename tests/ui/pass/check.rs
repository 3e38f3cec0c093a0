//! Readiness checks on component methods: bare and qualified, with and without keys, returning a
//! `Result` or nothing, on a generic type, and one compiled out by `#[cfg]`.

use std::sync::Arc;

struct Pool<T>(T);

#[lifecycle::component]
impl<T: Send + Sync + 'static> Pool<T> {
    #[check]
    async fn ping(&self) -> std::io::Result<()> {
        Ok(())
    }

    #[lifecycle::check(every = "5s", timeout = "1s", failures = 3, name = "replica lag")]
    async fn lag(&self) -> Result<(), String> {
        Ok(())
    }

    #[check(every = "500ms")]
    async fn alive(&self) {}

    /// Compiled out: not referred to by the generated `checks`.
    #[cfg(any())]
    #[check]
    async fn never_compiled(&self) -> Result<(), String> {
        Ok(())
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Pool(1u8)));
}
