#[lifecycle::main(
    grace = "1m30s",
    drain_delay = "0s",
    hook_timeout = "250ms",
    signals = [SIGTERM, SIGINT, SIGQUIT, SIGHUP],
    force_on_second_signal = false,
    flavor = "multi_thread",
    worker_threads = 2,
    repeat_window = "0s",
    deadline_margin = "250ms",
    init = init,
)]
async fn main(lc: lifecycle::Lifecycle) {
    let config = lc.config();
    assert_eq!(config.grace(), std::time::Duration::from_secs(90));
    assert_eq!(config.drain_delay(), std::time::Duration::ZERO);
    assert_eq!(config.hook_timeout(), std::time::Duration::from_millis(250));
    assert!(!config.force_on_second_signal());
    assert_eq!(config.repeat_window(), std::time::Duration::ZERO);
    assert_eq!(config.deadline_margin(), std::time::Duration::from_millis(250));
    assert_eq!(config.worker_threads(), Some(2));
    assert_eq!(config.signals().len(), 4);
}

fn init() {}
