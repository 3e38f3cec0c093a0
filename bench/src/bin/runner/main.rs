//! Runs every scenario side by side and writes `BENCHMARKS.md` at the repository root.
//!
//! Run through `bench/run.sh` (it installs nginx and wrk if missing and builds everything in
//! release). `BENCH_ONLY=idle,drain,connections,throughput,instructions,resets,upgrade,spawn,fanout,compile,rolling,rss` runs a subset and writes
//! `bench/target/BENCHMARKS.partial.md` instead, so a subset never replaces the whole table;
//! `BENCH_QUICK=1` uses fewer runs, for a smoke test.

mod compile;
mod inproc;
mod instructions;
mod memory;
mod proc;
mod process_scenarios;
mod resets;
mod rolling;
mod stats;
mod throughput;
mod upgrade;

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use process_scenarios::Contender;
use stats::{fmt, Row};

struct Plan {
    quick: bool,
    only: Option<Vec<String>>,
}

impl Plan {
    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == scenario))
    }
    fn runs(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "- CPU: {model}, {cores} cores; memory {:.0} GiB\n- kernel {}; {}\n- date: {}\n",
        mem_kb as f64 / 1024.0 / 1024.0,
        command_line("uname", &["-sr"]),
        command_line("rustc", &["-V"]),
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn median_of(rows: &[Row], name: &str) -> f64 {
    rows.iter()
        .find(|r| r.name == name)
        .map(|r| r.samples.median())
        .unwrap_or(f64::NAN)
}

fn main() {
    let plan = Plan {
        quick: std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1"),
        only: std::env::var("BENCH_ONLY")
            .ok()
            .map(|v| v.split(',').map(str::to_owned).collect()),
    };
    let release = std::env::current_exe()
        .expect("exe")
        .parent()
        .expect("target dir")
        .to_path_buf();
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = bench_dir.parent().expect("repo root").to_path_buf();
    let scratch = std::env::temp_dir().join("lifecycle-bench");
    let _ = std::fs::create_dir_all(&scratch);
    let fds = proc::raise_fd_limit();
    let grace = "2000";

    let contender = |name: &'static str, bin: PathBuf| Contender {
        name,
        bin,
        env: vec![
            ("GRACE_MS", grace.to_owned()),
            ("LIFECYCLE_GRACE", format!("{grace}ms")),
        ],
    };
    // The five HTTP servers of the connection scenarios (drain of connections, resets), the
    // lifecycle's own serve loop first, named `serve_loop`.
    let http_servers = |serve_loop: &'static str| {
        vec![
            contender(serve_loop, release.join("svc_serve")),
            contender(
                "lifecycle + axum's with_graceful_shutdown",
                release.join("svc_lifecycle"),
            ),
            contender(
                "axum's with_graceful_shutdown alone (bare Tokio)",
                release.join("floor_axum"),
            ),
            contender("hand-written token + tracker", release.join("svc_hand")),
            contender(
                "tokio-graceful-shutdown 0.20",
                release.join("examples/svc_tgs"),
            ),
        ]
    };
    let servers = || {
        vec![
            contender("lifecycle (attributes)", release.join("svc_lifecycle")),
            contender("hand-written token + tracker", release.join("svc_hand")),
            contender("seed article (sleeps grace)", release.join("svc_seed")),
            contender(
                "tokio-graceful-shutdown 0.20",
                release.join("examples/svc_tgs"),
            ),
        ]
    };

    let mut doc = String::new();
    let mut targets: Vec<(String, String, &'static str)> = Vec::new();
    let _ = writeln!(doc, "# Benchmarks\n");
    let _ = writeln!(
        doc,
        "Written by `bash bench/run.sh` (all scenarios, about 15 minutes). Every scenario runs its contenders \
         interleaved in one run on one machine; figures are medians with min–max, and ratios are ratios \
         of medians. These machines are noisy: compare within a table, not across runs.\n"
    );
    let _ = writeln!(doc, "## Machine\n\n{}- open-file limit: {fds}\n", machine());
    let _ = writeln!(doc, "Every server contender serves the same axum app (`bench/src/lib.rs`) and uses a grace period of {grace} ms.\n");

    // The in-process scenarios first: their cost is cross-core cache traffic, which the kernel's
    // cleanup after the connection scenarios (tens of thousands of sockets) inflates for a while.
    // Run after them, `tokio::spawn` itself took 698 ms against 548 ms on a quiet machine, and
    // every tracked spawner's ratio grew with it (the bare tracker's from 1.06x to 1.14x).
    if plan.wants("spawn") {
        eprintln!("tracked spawn overhead...");
        let n = 1_000_000;
        let rows = inproc::spawn_overhead(plan.runs(11, 3), n);
        let _ = writeln!(doc, "## 3. Tracked spawn overhead\n\n{n} trivial tasks (each returns `()`) spawned from a worker and awaited, on a 2-worker runtime; a fresh runtime per run.\n");
        stats::table(&mut doc, "ms", Some("tokio::spawn"), &[], &rows);
        let ratio = median_of(&rows, "lifecycle: lc.spawn") / median_of(&rows, "tokio::spawn");
        targets.push((
            "spawn overhead at most 1.15× tokio::spawn".into(),
            format!("{ratio:.2}×"),
            verdict(ratio <= 1.15),
        ));
    }

    if plan.wants("fanout") {
        eprintln!("cancellation fan-out...");
        let n = 100_000;
        let rows = inproc::fanout(plan.runs(11, 3), n);
        let _ = writeln!(doc, "## 4. Cancellation fan-out\n\n{n} tasks parked on child tokens; time from the cancel until all have exited (lifecycle: `shutdown()` through the whole sequence to the report).\n");
        stats::table(
            &mut doc,
            "ms",
            Some("CancellationToken + TaskTracker (hand-written)"),
            &[],
            &rows,
        );
        let ms = median_of(&rows, "lifecycle: lc.token + lc.spawn, shutdown");
        targets.push((
            "fan-out of 100k within 50 ms".into(),
            format!("{} ms", fmt(ms)),
            verdict(ms <= 50.0),
        ));
    }

    if plan.wants("idle") {
        eprintln!("idle shutdown latency...");
        let mut contenders = vec![
            contender("floor: bare Tokio, exits on SIGTERM", release.join("floor")),
            contender("lifecycle, no server", release.join("bare_lifecycle")),
            contender(
                "floor + axum: bare Tokio serving the app",
                release.join("floor_axum"),
            ),
        ];
        contenders.extend(servers());
        let rows = process_scenarios::idle(&contenders, plan.runs(30, 5), plan.runs(5, 2));
        let _ = writeln!(doc, "## 1. Idle shutdown latency\n\nSIGTERM to process reaped, idle service, whole processes.\n");
        stats::table(
            &mut doc,
            "ms",
            Some("floor: bare Tokio, exits on SIGTERM"),
            &[],
            &rows,
        );
        let floor = median_of(&rows, "floor: bare Tokio, exits on SIGTERM");
        let ratio = median_of(&rows, "lifecycle, no server") / floor;
        targets.push((
            "idle shutdown within 1.1× the floor (lifecycle, no server)".into(),
            format!("{ratio:.2}×"),
            verdict(ratio <= 1.1),
        ));
        // Serving axum, the floor is bare Tokio serving the same app: what axum's own teardown
        // costs is not the framework's.
        let axum_floor = median_of(&rows, "floor + axum: bare Tokio serving the app");
        let ratio = median_of(&rows, "lifecycle (attributes)") / axum_floor;
        targets.push((
            "idle shutdown within 1.1× the axum floor (lifecycle serving axum)".into(),
            format!("{ratio:.2}×"),
            verdict(ratio <= 1.1),
        ));
    }

    if plan.wants("drain") {
        eprintln!("drain of 10,000 in-flight requests...");
        let requests = if plan.quick { 2_000 } else { 10_000 };
        let rows = process_scenarios::drain(&servers(), plan.runs(5, 1), requests);
        let _ = writeln!(
            doc,
            "## 2. Drain\n\n{requests} requests in flight (raw HTTP/1.1 over loopback, one connection each), \
             each answering 200 ms after SIGTERM arrives. The timed figure is process exit minus the last \
             response; failures are connection errors or non-200 answers.\n"
        );
        stats::table(
            &mut doc,
            "ms past last response",
            None,
            &[
                "failed requests",
                "exit after SIGTERM (ms, median)",
                "all in flight at SIGTERM",
            ],
            &rows,
        );
        let past = median_of(&rows, "lifecycle (attributes)");
        let failed = rows
            .iter()
            .find(|r| r.name == "lifecycle (attributes)")
            .map(|r| r.extra[0].clone())
            .unwrap_or_default();
        targets.push((
            "drain: exit within 10 ms of the last response".into(),
            format!("{} ms", fmt(past)),
            verdict(past <= 10.0),
        ));
        targets.push((
            "drain: no failed request".into(),
            failed.clone(),
            verdict(failed.starts_with("0 ")),
        ));
    }

    if plan.wants("connections") {
        eprintln!("drain of 2,000 connections...");
        let requests = 2_000;
        let serve_loop = "lifecycle serve loop (lifecycle::axum::serve)";
        let contenders = http_servers(serve_loop);
        let rows = process_scenarios::drain(&contenders, plan.runs(9, 3), requests);
        let _ = writeln!(
            doc,
            "## 8. Connection drain\n\n{requests} requests in flight on {requests} connections (raw HTTP/1.1 over \
             loopback), each answering 200 ms after SIGTERM arrives, as in scenario 2: the lifecycle's own serve \
             loop, whose connections are tracked tasks counted in the report, against axum's \
             `with_graceful_shutdown` (with lifecycle around it, and alone), the hand-written combination and \
             tokio-graceful-shutdown. The timed figure is process exit minus the last response.\n"
        );
        stats::table(
            &mut doc,
            "ms past last response",
            None,
            &[
                "failed requests",
                "exit after SIGTERM (ms, median)",
                "all in flight at SIGTERM",
            ],
            &rows,
        );
        let past = median_of(&rows, serve_loop);
        targets.push((
            "connections: the serve loop exits within 10 ms of the last of 2,000 responses".into(),
            format!("{} ms", fmt(past)),
            verdict(past <= 10.0),
        ));
    }

    if plan.wants("throughput") {
        eprintln!("requests per second...");
        let serve_loop = "lifecycle serve loop (lifecycle::axum::serve)";
        let axum_serve = "axum::serve, lifecycle around it";
        let contenders = vec![
            contender(serve_loop, release.join("svc_serve")),
            contender(axum_serve, release.join("svc_lifecycle")),
            contender("axum::serve alone (bare Tokio)", release.join("floor_axum")),
        ];
        let seconds = if plan.quick { 2 } else { 5 };
        let runs = plan.runs(7, 1);
        let _ = writeln!(
            doc,
            "## 9. Requests per second\n\n`GET /` (`ok`) under `wrk -t2 -c64 -d{seconds}s`, after a one-second warm-up, \
             a fresh server process per run, the contenders interleaved: the lifecycle's own serve loop (every connection \
             tracked and named, every request counted) against `axum::serve` with `with_graceful_shutdown` on the same \
             router (with lifecycle around it, the same runtime; and alone). wrk runs on the same two cores as the server. \
             The ratio is of medians, higher is faster; the ratio run by run is the median of each run's ratio to \
             the `axum::serve` run next to it.\n"
        );
        use throughput::{Pattern, Placement};
        for (pattern, placement, title, target) in [
            (
                Pattern::KeepAlive,
                Placement::Shared,
                "64 connections kept alive",
                "keep-alive",
            ),
            (
                Pattern::NewConnection,
                Placement::Shared,
                "a new connection per request (`Connection: close`)",
                "new connection per request",
            ),
            (
                Pattern::KeepAlive,
                Placement::Pinned,
                "64 connections kept alive, pinned (the server on CPU 0 with one worker, `wrk -t1` on CPU 1)",
                "keep-alive, pinned",
            ),
            (
                Pattern::NewConnection,
                Placement::Pinned,
                "a new connection per request, pinned (the server on CPU 0 with one worker, `wrk -t1` on CPU 1)",
                "new connection per request, pinned",
            ),
        ] {
            let rows = throughput::requests_per_second(
                &contenders,
                1,
                pattern,
                placement,
                runs,
                seconds,
            );
            let _ = writeln!(doc, "{title}:\n");
            stats::table(
                &mut doc,
                "requests/s",
                Some(axum_serve),
                &["ratio run by run (median)", "failed (all runs)"],
                &rows,
            );
            let ratio = median_of(&rows, serve_loop) / median_of(&rows, axum_serve);
            let paired = rows
                .iter()
                .find(|row| row.name == serve_loop)
                .map(|row| row.extra[0].clone())
                .unwrap_or_default();
            targets.push((
                format!("serve loop at least 0.98× axum::serve's requests per second ({target})"),
                format!("{ratio:.2}× (run by run: {paired})"),
                verdict(ratio >= 0.98),
            ));
        }
    }

    if plan.wants("instructions") {
        eprintln!("instructions per request (callgrind)...");
        let serve_loop = ("lifecycle serve loop (lifecycle::axum::serve)", "svc_serve");
        let axum_serve = ("axum::serve, lifecycle around it", "svc_lifecycle");
        let req_load = release.join("examples").join("req_load");
        if !instructions::available() || !req_load.exists() {
            let _ = writeln!(
                doc,
                "## 12. Instructions per request\n\nSkipped: needs valgrind (`apt-get install \
                 valgrind`) and `cargo build --release --examples` (`req_load`).\n"
            );
        } else {
            let _ = writeln!(
                doc,
                "## 12. Instructions per request\n\nThe servers of scenario 9 under `valgrind \
                 --tool=callgrind`, answering 2,000 and then 22,000 `GET /` from `req_load` over 64 \
                 connections (kept alive; or a new connection per request); the difference of the two \
                 totals over 20,000 is a request's cost in user-space instructions, start-up and \
                 shutdown cancelling out. Unlike requests per second, it does not move with the \
                 machine's load (callgrind runs the threads one at a time; the kernel's share, about \
                 three quarters of a request's time, is not counted).\n\n\
                 | server | keep-alive (instructions/request) | ratio | a new connection per request | ratio |\n\
                 |---|---|---|---|---|"
            );
            let mut figures = Vec::new();
            for (name, bin) in [serve_loop, axum_serve] {
                let server = release.join(bin);
                let keep = instructions::per_request(&server, &req_load, "keepalive");
                let close = instructions::per_request(&server, &req_load, "close");
                figures.push((name, keep, close));
            }
            let base = figures.last().map(|(_, k, c)| (*k, *c));
            for (name, keep, close) in &figures {
                let ratio = |own: &Option<f64>, base: Option<f64>| match (own, base) {
                    (Some(own), Some(base)) => format!("{:.2}×", own / base),
                    _ => "-".to_owned(),
                };
                let shown = |n: &Option<f64>| n.map_or("failed".to_owned(), |n| format!("{n:.0}"));
                let (base_keep, base_close) = base.unwrap_or((None, None));
                let _ = writeln!(
                    doc,
                    "| {name} | {} | {} | {} | {} |",
                    shown(keep),
                    ratio(keep, base_keep),
                    shown(close),
                    ratio(close, base_close)
                );
                if *name == serve_loop.0 {
                    targets.push((
                        "(reference) serve loop's user-space instructions per request, against axum::serve (keep-alive; new connection)".into(),
                        format!("{}; {}", ratio(keep, base_keep), ratio(close, base_close)),
                        "reported",
                    ));
                }
            }
            doc.push('\n');
        }
    }

    if plan.wants("resets") {
        eprintln!("connection resets at SIGTERM...");
        let serve_loop = "lifecycle serve loop (lifecycle::axum::serve)";
        let contenders = http_servers(serve_loop);
        let (runs, clients, before) = (plan.runs(10, 3), 32, Duration::from_millis(200));
        let totals = resets::at_sigterm(&contenders, runs, clients, before);
        let _ = writeln!(
            doc,
            "## 10. Connection resets at SIGTERM\n\n{clients} client threads, each opening a new connection per \
             request (`GET /` with `Connection: close`, read to the end) in a loop; SIGTERM {} ms after the first \
             answer; every attempt counted until each client is refused or not accepted within 300 ms (the port \
             closed). A fresh server per run, {runs} runs per contender, interleaved. A reset (`ECONNRESET`, \
             `EPIPE`) or a close without an answer after `connect` succeeded is a loss: the client sent its \
             request and cannot tell whether it was processed (a `connect` that itself ends in `ECONNRESET`, the \
             handshake done and then reset by the closing listener, counts as a reset too; the quotes below \
             the table say how many). Refused and not connected (a SYN dropped, retried by the client's kernel \
             a second later) sent nothing. Each cell is the total over the runs, with the median of a run in \
             parentheses.\n",
            before.as_millis()
        );
        resets::table(&mut doc, &totals);
        let lost = totals
            .iter()
            .find(|row| row.name == serve_loop)
            .map(|row| row.lost())
            .unwrap_or(u64::MAX);
        targets.push((
            "resets at SIGTERM: the serve loop resets no client that connected".into(),
            lost.to_string(),
            verdict(lost == 0),
        ));
    }

    if plan.wants("upgrade") {
        eprintln!("in-place upgrade under load...");
        let server = contender(
            "lifecycle serve loop, listener from lifecycle::listener",
            release.join("svc_upgrade"),
        );
        let (runs, switches, fresh, kept) = (plan.runs(10, 2), 3, 32, 8);
        let outcomes = upgrade::under_load(
            &server,
            &[upgrade::Switch::Upgrade, upgrade::Switch::Restart],
            runs,
            switches,
            fresh,
            kept,
            &scratch,
        );
        let _ = writeln!(
            doc,
            "## 11. In-place upgrade under load\n\nThe lifecycle's serve loop with its listener from \
             `lifecycle::listener(\"http\", ..)` (`svc_upgrade`), under {fresh} client threads opening a new \
             connection per request (scenario 10's clients, going on through the switches; after a refused or \
             not-connected attempt a client waits 10 ms) and {kept} keep-alive clients (the next request as soon \
             as the last answer came; a new connection once the server closes one after an answer). Per run: \
             {switches} switches in a row, {} ms of load before each and after the last, then SIGTERM; every \
             attempt counted until each client finds the port closed. An upgrade is SIGUSR2 to the process the \
             PID file (`LIFECYCLE_PIDFILE`) names; a plain restart, for comparison, is SIGTERM and, once the \
             process exited, the same binary started again on the same port. {runs} runs of each, interleaved. \
             Counts as in scenario 10 (a reset or a close without an answer after `connect` is a loss); each cell \
             is the total over the runs with the median of a run in parentheses; the exit codes are a run's \
             processes in order (the last one's at the SIGTERM). The rows of the switches count the attempts \
             that ended before the runner sent the final SIGTERM, the `then SIGTERM` rows those that ended after (the \
             shutdown scenario 10 measures, here with keep-alive clients too).\n",
            upgrade::STEADY.as_millis()
        );
        upgrade::table(&mut doc, &outcomes);
        let lost = outcomes
            .iter()
            .find(|o| o.how == upgrade::Switch::Upgrade)
            .map(|o| o.lost())
            .unwrap_or(u64::MAX);
        targets.push((
            "in-place upgrade under load: no client that connected is reset or left unanswered"
                .into(),
            lost.to_string(),
            verdict(lost == 0),
        ));
        let lost = outcomes
            .iter()
            .find(|o| o.how == upgrade::Switch::Upgrade)
            .map(|o| o.lost_at_stop())
            .unwrap_or(u64::MAX);
        targets.push((
            "(reference) in-place upgrade scenario: clients that connected and were lost at the final SIGTERM".into(),
            lost.to_string(),
            "reported",
        ));
    }

    if plan.wants("compile") {
        eprintln!("compile cost...");
        let compile_dir = bench_dir.join("compile");
        let probes = [
            (
                "tokio-macros (clean build)",
                compile_dir.join("macros-tokio"),
            ),
            (
                "lifecycle-macros (clean build)",
                compile_dir.join("macros-lifecycle"),
            ),
            (
                "tokio-macros + lifecycle-macros (clean build)",
                compile_dir.join("macros-both"),
            ),
        ];
        let clean = compile::clean_builds(&probes, plan.runs(3, 1), &scratch);
        let apps = [
            (
                "app by hand (lifecycle::run + Hook)",
                compile_dir.join("app-hand"),
            ),
            ("app with attributes", compile_dir.join("app-attr")),
        ];
        let incremental = compile::incremental(&apps, plan.runs(5, 2), &scratch);
        let _ = writeln!(doc, "## 5. Compile cost\n\nDev profile, wall time of `cargo build`. Clean: a fresh target directory (dependencies included). Incremental: a one-line edit of `main.rs` in a warmed target directory. Sources in `bench/compile/`.\n");
        stats::table(
            &mut doc,
            "ms",
            Some("tokio-macros (clean build)"),
            &[],
            &clean,
        );
        stats::table(
            &mut doc,
            "ms",
            Some("app by hand (lifecycle::run + Hook)"),
            &[],
            &incremental,
        );
        let ratio = median_of(&clean, "lifecycle-macros (clean build)")
            / median_of(&clean, "tokio-macros (clean build)");
        targets.push((
            "clean build of lifecycle-macros no worse than tokio-macros".into(),
            format!("{ratio:.2}×"),
            verdict(ratio <= 1.0),
        ));
        let marginal = median_of(&clean, "tokio-macros + lifecycle-macros (clean build)")
            - median_of(&clean, "tokio-macros (clean build)");
        targets.push((
            "(reference) what lifecycle-macros adds to a clean build that has tokio-macros".into(),
            format!("{} ms", fmt(marginal)),
            "reported",
        ));
        let ratio = median_of(&incremental, "app with attributes")
            / median_of(&incremental, "app by hand (lifecycle::run + Hook)");
        targets.push((
            "incremental rebuild with attributes vs by hand".into(),
            format!("{ratio:.2}×"),
            "reported",
        ));
    }

    if plan.wants("rolling") {
        eprintln!("rolling restart behind nginx...");
        let bin = std::env::var_os("HTTP_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/release/http_server"));
        let seconds = if plan.quick { 10 } else { 20 };
        let runs = plan.runs(3, 1);
        let _ = writeln!(
            doc,
            "## 6. Rolling restart\n\nTwo `examples/http_server` instances (drain delay 1 s, grace 10 s) behind nginx \
             (round robin, keep-alive upstreams, `proxy_next_upstream error timeout`), under `wrk -t2 -c32 -d{seconds}s` \
             on `/work?ms=5`. Each instance in turn gets SIGTERM, exits, and is started again on its port.\n"
        );
        let _ = writeln!(doc, "| run | requests | socket errors | non-2xx | restart (SIGTERM → serving again, ms) | exit codes |\n|---|---|---|---|---|---|");
        let mut failed_total = 0;
        for run in 0..runs {
            let r = rolling::run_once(&bin, &scratch, seconds);
            failed_total += r.socket_errors + r.non_2xx;
            let restarts: Vec<String> = r.restart_ms.iter().map(|ms| fmt(*ms)).collect();
            let _ = writeln!(
                doc,
                "| {} | {} | {} | {} | {} | {:?} |",
                run + 1,
                r.requests,
                r.socket_errors,
                r.non_2xx,
                restarts.join(", "),
                r.exit_codes
            );
        }
        doc.push('\n');
        targets.push((
            "rolling restart: 0 failed requests".into(),
            failed_total.to_string(),
            verdict(failed_total == 0),
        ));
    }

    if plan.wants("rss") {
        eprintln!("memory of idle tracked tasks...");
        let n = 100_000;
        let hand = "CancellationToken + TaskTracker (hand-written)";
        let lifecycle = "lifecycle: lc.token + lc.spawn";
        let contenders = [
            ("floor: tokio::spawn + child token, untracked", "tokio"),
            (hand, "hand"),
            (lifecycle, "lifecycle"),
        ];
        let rows = memory::rss(&release.join("rss_probe"), &contenders, plan.runs(9, 3), n);
        let _ = writeln!(
            doc,
            "## 7. Memory of idle tracked tasks\n\n{n} tasks, each parked on a child token, spawned from a \
             worker of a 2-worker runtime. The figure is resident memory (`/proc/self/statm`) once every \
             task has parked, less the same process's before the first spawn, per task; a fresh process \
             per sample (`rss_probe`).\n"
        );
        stats::table(
            &mut doc,
            "bytes per task",
            Some(hand),
            &["RSS added (MiB, median)"],
            &rows,
        );
        let ratio = median_of(&rows, lifecycle) / median_of(&rows, hand);
        targets.push((
            "memory of 100k idle tracked tasks at most 1.10× the hand-written combination".into(),
            format!("{ratio:.2}×"),
            verdict(ratio <= 1.10),
        ));
    }

    let _ = writeln!(doc, "## Targets\n\n| target | measured | |\n|---|---|---|");
    for (target, measured, verdict) in &targets {
        let _ = writeln!(doc, "| {target} | {measured} | {verdict} |");
    }
    let analysis = std::fs::read_to_string(bench_dir.join("ANALYSIS.md")).unwrap_or_default();
    if !analysis.is_empty() {
        let _ = writeln!(doc, "\n{analysis}");
    }
    // A subset must not replace the whole table with its own few sections.
    let out: &Path = &if plan.only.is_some() {
        bench_dir.join("target/BENCHMARKS.partial.md")
    } else {
        repo.join("BENCHMARKS.md")
    };
    std::fs::write(out, &doc).expect("write BENCHMARKS.md");
    println!("{doc}");
    eprintln!("wrote {}", out.display());
}
