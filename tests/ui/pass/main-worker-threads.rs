#[lifecycle::main(worker_threads = 3)]
async fn main() {
    let metrics = tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_workers(), 3);
}
