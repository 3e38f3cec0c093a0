// `#[lifecycle::run]` marks a component's long-running part; a free function is a task to spawn.
use lifecycle::CancellationToken;

#[lifecycle::run]
async fn consume(token: CancellationToken) {
    token.cancelled().await
}

fn main() {}
