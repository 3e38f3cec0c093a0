use lifecycle::Lifecycle;

// The parameter gets a clone of the `Lifecycle`; any pattern is allowed.
#[lifecycle::main]
async fn main(lc: Lifecycle) {
    let token = lc.token();
    lc.spawn(async move { token.cancelled().await });
    lc.request_shutdown();
}
