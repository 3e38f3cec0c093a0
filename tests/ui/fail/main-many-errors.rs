// Every mistake is reported in one build.
#[lifecycle::main(grce = "30s", drain_delay = 5, flavor = "single", signals = [SIGKILL])]
async fn main() {}
