use std::marker::PhantomData;
use std::sync::Arc;

trait Store: Send + Sync + 'static {
    fn name() -> &'static str;
}

struct Memory;

impl Store for Memory {
    fn name() -> &'static str {
        "memory"
    }
}

struct Cache<S, const N: usize> {
    store: PhantomData<S>,
}

// Generics and the where clause are copied to the `Component` impl.
#[lifecycle::component]
impl<S, const N: usize> Cache<S, N>
where
    S: Store,
{
    #[persist(every = "1s")]
    async fn save(&self) {
        assert_eq!(S::name(), "memory");
    }

    #[on_shutdown]
    fn close(&self) -> Result<(), std::io::Error> {
        assert_eq!(N, 16);
        Ok(())
    }
}

#[lifecycle::main]
async fn main(lc: lifecycle::Lifecycle) {
    lc.manage(Arc::new(Cache::<Memory, 16> { store: PhantomData }));
}
