// A subset of signals, in any order.
#[lifecycle::main(signals = [SIGHUP, SIGTERM])]
async fn main() {}
