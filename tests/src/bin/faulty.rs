//! A service that does bad things to the runtime, for the fault matrix in `tests/faults.rs`.
//!
//! Written by hand against `lifecycle::run`, like `fixture.rs`. The first argument picks the
//! scenario. Timings are short (grace 500 ms, hook timeout 1 s, deadline margin 500 ms) so that
//! every hard deadline comes within seconds; the `LIFECYCLE_*` variables override them. Every
//! line printed on stdout is something a test waits for or asserts on.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifecycle::hooks::HookKind;
use lifecycle::{Config, Hook};
use tracing_subscriber::fmt::MakeWriter;

/// Longer than any test waits: whatever sleeps this long must be cut short by the runtime.
const FOREVER: Duration = Duration::from_secs(60);

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A persist hook that takes 100 ms (so a signal that comes soon after the first lands in the
/// middle of the shutdown), then prints `persist ran` on stdout.
fn persist_hook() -> Hook {
    Hook::new(HookKind::Persist, "save-state", || async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        say("persist ran");
    })
}

/// A `tracing` fmt subscriber writing to standard error.
fn log_to_stderr() {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
}

fn main() -> ExitCode {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let config = Config::new()
        .with_grace(Duration::from_millis(500))
        .with_hook_timeout(Duration::from_secs(1))
        .with_deadline_margin(Duration::from_millis(500));
    match scenario.as_str() {
        // Serves until a signal; a persist hook.
        "serve" => lifecycle::run(config, |lc| async move {
            lc.manage(persist_hook());
            say("ready");
            lc.cancelled().await;
        }),
        // Shuts itself down; a task needs 2 s after the cancel. A signal now only hurries.
        "requested" => lifecycle::run(
            config.with_grace(Duration::from_secs(10)),
            |lc| async move {
                lc.manage(persist_hook());
                let token = lc.token();
                lc.task("job").spawn(async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    say("job finished");
                });
                say("ready");
                lc.request_shutdown();
                lc.cancelled().await;
            },
        ),
        // A shutdown hook that takes a minute, yielding: only a forced exit ends it early.
        "slow-hook" => lifecycle::run(config, |lc| async move {
            lc.manage(
                Hook::new(HookKind::Shutdown, "slow", || async {
                    say("hook started");
                    tokio::time::sleep(FOREVER).await;
                })
                .with_timeout(2 * FOREVER),
            );
            say("ready");
            lc.cancelled().await;
        }),
        // A shutdown hook that sleeps for a minute without yielding: its worker thread is gone.
        "hook-blocks" => lifecycle::run(config, |lc| async move {
            lc.manage(Hook::new(HookKind::Shutdown, "sleeper", || async {
                say("hook started");
                std::thread::sleep(FOREVER);
            }));
            say("ready");
            lc.cancelled().await;
        }),
        // A blocking task holds a mutex for ever; a shutdown hook waits for it without yielding.
        "hook-deadlock" => lifecycle::run(config, |lc| async move {
            let shared = Arc::new(Mutex::new(0u32));
            let held = Arc::clone(&shared);
            let (locked, is_locked) = std::sync::mpsc::channel();
            lc.task("holder").spawn_blocking(move || {
                let _guard = held.lock();
                let _ = locked.send(());
                std::thread::sleep(FOREVER);
            });
            let _ = is_locked.recv();
            lc.manage(Hook::new(HookKind::Shutdown, "locker", move || {
                let shared = Arc::clone(&shared);
                async move {
                    say("hook started");
                    let _guard = shared.lock();
                }
            }));
            say("ready");
            lc.cancelled().await;
        }),
        // A tracked task that spins without yielding once cancelled.
        "spinner" => lifecycle::run(config, |lc| async move {
            let token = lc.token();
            lc.task("spinner").spawn(async move {
                token.cancelled().await;
                say("spinning");
                let started = Instant::now();
                while started.elapsed() < FOREVER {
                    std::hint::spin_loop();
                }
            });
            say("ready");
            lc.cancelled().await;
        }),
        // A current-thread runtime that hangs while running: main blocks its only thread.
        "hang" => lifecycle::run(
            config.with_flavor(lifecycle::config::Flavor::CurrentThread),
            |lc| async move {
                lc.manage(persist_hook());
                lc.started().await; // Ready: systemd's watchdog pings start
                say("ready");
                tokio::time::sleep(Duration::from_millis(300)).await;
                say("hanging");
                std::thread::sleep(FOREVER);
            },
        ),
        // The main body blocks its thread after the trigger.
        "main-blocks" => lifecycle::run(config, |lc| async move {
            lc.manage(persist_hook());
            say("ready");
            lc.cancelled().await;
            say("main blocking");
            std::thread::sleep(FOREVER);
        }),
        // A tracing fmt subscriber on standard error, which the test closes: with stderr gone,
        // every event makes the fmt layer's own `eprintln!` panic in whatever thread logged it.
        // The app's own code does not log, so any such panic is the runtime's.
        "logs" => {
            log_to_stderr();
            lifecycle::run(config, |lc| async move {
                lc.manage(persist_hook());
                let token = lc.token();
                lc.task("worker").spawn(async move {
                    token.cancelled().await;
                    say("worker stopped");
                });
                say("ready");
                lc.cancelled().await;
            })
        }
        // Floods standard error from a thread until the pipe is full (the test never reads it):
        // that thread then blocks inside a write, holding the process's stderr lock. With the
        // argument `subscriber` the flood goes through a tracing subscriber, else `eprintln!`.
        "flood" => {
            let subscriber = std::env::args().nth(2).as_deref() == Some("subscriber");
            if subscriber {
                log_to_stderr();
            }
            lifecycle::run(config, move |lc| async move {
                // The flood begins once start-up is over: the start phase runs beside main's
                // first lines, and its own "started" event would block on the full pipe (the
                // watchdog's start-up deadline would end that; this scenario is the shutdown's).
                lc.started().await;
                let written = Arc::new(AtomicUsize::new(0));
                let counter = Arc::clone(&written);
                std::thread::spawn(move || loop {
                    let line = "x".repeat(200);
                    if subscriber {
                        tracing::info!(%line, "flood");
                    } else {
                        eprintln!("flood {line}");
                    }
                    counter.fetch_add(line.len(), Ordering::SeqCst);
                });
                // Full: half a pipe's worth of lines written (more with the log prefixes), then
                // no progress for 300 ms.
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let now = written.load(Ordering::SeqCst);
                    if now > 32 * 1024 && now == last {
                        break;
                    }
                    last = now;
                }
                let token = lc.token();
                lc.task("worker").spawn(async move {
                    token.cancelled().await;
                    say("worker stopped");
                });
                say("ready");
                lc.cancelled().await;
            })
        }
        // Standard error is closed by the test; the subscriber's writer panics when a warning or
        // an error cannot be written. The persist hook fails, so the runtime's warning about it
        // panics inside the runtime.
        "lost-hook-report" => {
            tracing_subscriber::fmt()
                .with_writer(PanickyStderr)
                .with_ansi(false)
                .init();
            lifecycle::run(config, |lc| async move {
                lc.manage(Hook::new(HookKind::Persist, "save-state", || async {
                    say("persist ran");
                    Err::<(), _>("disk full")
                }));
                say("ready");
                lc.cancelled().await;
            })
        }
        // A shutdown hook spawns a task that outlives the report.
        "late-spawn" => lifecycle::run(config, |lc| async move {
            let handle = lc.clone();
            lc.manage(Hook::new(HookKind::Shutdown, "spawner", move || {
                let lc = handle.clone();
                async move {
                    lc.task("late-job").spawn(async {
                        tokio::time::sleep(FOREVER).await;
                    });
                    say("late-job spawned");
                }
            }));
            say("ready");
            lc.cancelled().await;
        }),
        // main ignores the cancel and holds a guard whose Drop panics when main is dropped at
        // the grace deadline.
        "drop-panic" => lifecycle::run(config, |lc| async move {
            lc.manage(persist_hook());
            lc.manage(Hook::new(HookKind::Shutdown, "after", || async {
                say("hook ran")
            }));
            let _guard = PanicOnDrop;
            say("ready");
            lc.cancelled().await;
            std::future::pending::<()>().await;
        }),
        // A managed component whose Drop panics: it is dropped with the lifecycle, after the
        // hooks ran.
        "drop-panic-component" => lifecycle::run(config, |lc| async move {
            lc.manage(persist_hook());
            lc.manage(Arc::new(ExplodingPool));
            say("ready");
            lc.cancelled().await;
        }),
        // A task (not critical) returns an error.
        "task-error" => lifecycle::run(config, |lc| async move {
            let failed = lc
                .task("loader")
                .spawn(async { Err::<(), _>(io::Error::other("disk on fire")) });
            let _ = failed.await;
            say("ready");
            lc.cancelled().await;
        }),
        // 20,000 tasks of one name panic; the panic hook is silenced so stderr holds only the
        // report.
        "panic-storm" => {
            std::panic::set_hook(Box::new(|_| {}));
            lifecycle::run(config, |lc| async move {
                let handles: Vec<_> = (0..20_000)
                    .map(|i| {
                        lc.task("flaky").spawn(async move {
                            if i >= 0 {
                                panic!("boom {i}");
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    let _ = handle.await;
                }
                say("panicked");
            })
        }
        // A critical task fails with an error that has a source.
        "error-chain" => lifecycle::run(config, |lc| async move {
            lc.task("config")
                .critical()
                .spawn(async { Err::<(), _>(LoadError(io::Error::from(io::ErrorKind::NotFound))) });
            say("ready");
            lc.cancelled().await;
        }),
        // Asks for exit code 0; the persist hook fails.
        "requested-zero" => lifecycle::run(config, |lc| async move {
            lc.manage(Hook::new(HookKind::Persist, "save-state", || async {
                say("persist ran");
                Err::<(), _>("disk full")
            }));
            say("ready");
            lc.request_shutdown_with(0, "maintenance");
        }),
        other => {
            eprintln!("unknown scenario `{other}`");
            ExitCode::from(64)
        }
    }
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the guard's Drop panicked");
    }
}

/// A managed component with a shutdown hook, whose `Drop` panics.
struct ExplodingPool;

impl lifecycle::Component for ExplodingPool {
    fn hooks(self: Arc<Self>) -> Vec<Hook> {
        vec![Hook::new(
            HookKind::Shutdown,
            "ExplodingPool::close",
            move || {
                let _pool = Arc::clone(&self);
                async { say("close ran") }
            },
        )]
    }
}

impl Drop for ExplodingPool {
    fn drop(&mut self) {
        panic!("the pool's Drop panicked");
    }
}

/// `loading the config`, caused by an I/O error.
#[derive(Debug)]
struct LoadError(io::Error);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loading the config")
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Writes to standard error; an event of level WARN or ERROR that cannot be written panics, as a
/// careless `eprintln!`-style writer would. Other events are dropped quietly when stderr is gone
/// (returning the error would make the fmt layer report it with `eprintln!`, which panics too).
struct PanickyStderr;

/// The writer for one event.
struct EventWriter {
    panics: bool,
}

impl<'a> MakeWriter<'a> for PanickyStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter { panics: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        EventWriter {
            panics: *meta.level() <= tracing::Level::WARN,
        }
    }
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match io::stderr().write(buf) {
            Err(err) if self.panics => panic!("could not log a warning: {err}"),
            Err(_) => Ok(buf.len()),
            written => written,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
