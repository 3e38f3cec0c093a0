//! A service written against the runtime by hand (`lifecycle::run`, no attributes), for the
//! real-process tests in `tests/process.rs`. The first argument picks the scenario; every line it
//! prints is something a test waits for or asserts on.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use lifecycle::hooks::HookKind;
use lifecycle::{Config, Hook, Lifecycle};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Hooks registered in an order different from the one they must run in.
fn register_ordered_hooks(lc: &Lifecycle) {
    for (name, order) in [
        ("close-db", 30),
        ("flush-metrics", 10),
        ("stop-consumers", 20),
    ] {
        lc.manage(
            Hook::new(HookKind::Shutdown, name, move || async move {
                say(&format!("hook {name}"))
            })
            .with_order(order),
        );
    }
    lc.manage(Hook::new(HookKind::Persist, "save-state", || async {
        say("hook save-state")
    }));
}

fn main() -> ExitCode {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let config = Config::new().with_grace(Duration::from_secs(10));
    match scenario.as_str() {
        // Serves until a signal; ordered hooks.
        "serve" => lifecycle::run(config, |lc| async move {
            register_ordered_hooks(&lc);
            say("ready");
            lc.cancelled().await;
            say("main done");
        }),
        // A task that needs 300 ms to finish its job after cancellation.
        "slow-task" => lifecycle::run(config, |lc| async move {
            let token = lc.token();
            lc.task("job").spawn(async move {
                token.cancelled().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                say("job finished");
            });
            say("ready");
            lc.cancelled().await;
        }),
        // A shutdown hook that takes a minute: a second signal must not wait for it.
        "slow-hook" => lifecycle::run(config, |lc| async move {
            lc.manage(
                Hook::new(HookKind::Shutdown, "slow", || async {
                    say("hook slow started");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                })
                .with_timeout(Duration::from_secs(120)),
            );
            say("ready");
            lc.cancelled().await;
        }),
        // A blocking task that never ends, and a short grace period.
        "stuck-blocking" => lifecycle::run(
            config.with_grace(Duration::from_millis(500)),
            |lc| async move {
                lc.task("stuck-io")
                    .spawn_blocking(|| std::thread::sleep(Duration::from_secs(3600)));
                say("ready");
                lc.cancelled().await;
            },
        ),
        // A hook that fails.
        "failing-hook" => lifecycle::run(config, |lc| async move {
            lc.manage(Hook::new(HookKind::Shutdown, "flaky", || async {
                Err::<(), _>("connection reset")
            }));
            lc.manage(
                Hook::new(HookKind::Shutdown, "after", || async { say("hook after") })
                    .with_order(1),
            );
            say("ready");
            lc.cancelled().await;
        }),
        // The main body returns by itself.
        "batch" => lifecycle::run(config, |lc| async move {
            register_ordered_hooks(&lc);
            say("ready");
            Ok::<(), String>(())
        }),
        // A long drain delay; with forcing off a second signal only skips it.
        "drain-delay" => lifecycle::run(
            config.with_drain_delay(Duration::from_secs(60)),
            |lc| async move {
                say("ready");
                lc.triggered().await;
                say("draining");
                lc.cancelled().await;
                say("cancelled");
            },
        ),
        // Every phase of a shutdown, each with a little work in it, for the systemd tests:
        // worst case 0.3 s + 10 s + 2 s + 2 s.
        "phases" => lifecycle::run(
            config
                .with_drain_delay(Duration::from_millis(300))
                .with_hook_timeout(Duration::from_secs(2)),
            |lc| async move {
                let pause = || tokio::time::sleep(Duration::from_millis(100));
                lc.manage(Hook::new(HookKind::Persist, "save", pause));
                lc.manage(Hook::new(HookKind::Shutdown, "close", pause));
                let token = lc.token();
                lc.task("job").spawn(async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                });
                say("ready");
                lc.cancelled().await;
            },
        ),
        // The shutdown requested before `Sequence::start`, written out as the generated main
        // does: systemd must still hear STOPPING=1 (never READY=1), and the exit is 5.
        "stop-before-start" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let sequence = lifecycle::Sequence::new(config);
                let lc = sequence.handle();
                lc.manage(Hook::new(HookKind::Start, "connect", || async {
                    say("connect ran")
                }));
                lc.request_shutdown();
                let running = match sequence.start() {
                    Ok(running) => running,
                    Err(err) => {
                        eprintln!("{err}");
                        return ExitCode::from(err.code());
                    }
                };
                let report = running
                    .run_until_trigger(async {})
                    .await
                    .drain()
                    .await
                    .persist()
                    .await
                    .shut_down()
                    .await;
                report.log();
                report.exit_code()
            })
        }
        // `Sequence::start` driven by hand in a runtime of the app's own, so no signal is held,
        // and a thread of the app's sends SIGTERM to the process `SIGTERM_AFTER_US`
        // microseconds after it is spawned, just before `start`: before the listeners (the
        // process dies of it), while they are installed, or after (exit 0). A SIGTERM lost is
        // said, and the exit is 66 two seconds later.
        "sigterm-at-start" => {
            let after: u64 = std::env::var("SIGTERM_AFTER_US")
                .ok()
                .and_then(|us| us.parse().ok())
                .unwrap_or(0);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let sequence = lifecycle::Sequence::new(config);
                let lc = sequence.handle();
                let spawned = std::time::Instant::now();
                std::thread::spawn(move || {
                    while spawned.elapsed() < Duration::from_micros(after) {
                        std::hint::spin_loop();
                    }
                    // SAFETY: sends a signal to this process.
                    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                });
                let running = match sequence.start() {
                    Ok(running) => running,
                    Err(err) => {
                        eprintln!("{err}");
                        return ExitCode::from(err.code());
                    }
                };
                let main = async move {
                    let heard = tokio::time::timeout(Duration::from_secs(2), lc.cancelled());
                    if heard.await.is_err() {
                        say("SIGTERM lost");
                        lc.request_shutdown_with(66, "the SIGTERM was lost");
                    }
                };
                let report = running
                    .run_until_trigger(main)
                    .await
                    .drain()
                    .await
                    .persist()
                    .await
                    .shut_down()
                    .await;
                report.log();
                report.exit_code()
            })
        }
        other => {
            eprintln!("unknown scenario `{other}`");
            ExitCode::from(64)
        }
    }
}
