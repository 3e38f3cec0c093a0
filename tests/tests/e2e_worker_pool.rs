//! The `worker_pool` example as a real process: shrunk and grown again by real SIGHUPs, then
//! stopped by SIGTERM while an HTTP request waits for jobs. Checked from its output: every job
//! started is done exactly once, a removed worker finishes its current job before the resize
//! ends, and the pool keeps working until the HTTP server has stopped.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::thread;

use lifecycle_tests::{try_get, Exited, Service};

const WORKER_POOL: &str = env!("CARGO_BIN_EXE_example-worker_pool");

/// The number after `name ` in a `/progress` body.
fn progress_field(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name} N` in /progress: {body:?}"))
}

/// A line `job N <what> by <worker>`, as `(N, what, worker)`.
fn job_line(line: &str) -> Option<(u64, &str, &str)> {
    let mut words = line.split(' ');
    (words.next()? == "job").then_some(())?;
    let job = words.next()?.parse().ok()?;
    let what = words.next()?;
    (words.next()? == "by").then_some(())?;
    Some((job, what, words.next()?))
}

/// The index of the first stdout line equal to `expected`.
fn index_of(exited: &Exited, expected: &str) -> usize {
    exited
        .stdout
        .iter()
        .position(|line| line == expected)
        .unwrap_or_else(|| panic!("no line `{expected}` in {:?}", exited.stdout))
}

#[test]
fn resizes_on_sighup_finishing_removed_jobs_and_drains_the_pool_after_the_http_server() {
    let mut service = Service::start(
        WORKER_POOL,
        &[],
        &[("WORKERS", "4"), ("JOB_MS", "100"), ("PORT", "0")],
    );
    let address = service.wait_for_address();
    for _ in 0..4 {
        service.wait_for_line(|line| job_line(line).is_some_and(|(_, what, _)| what == "done"));
    }

    // Shrink to 2: w3 and w4 finish their current job, then the resize is done.
    service.signal("HUP");
    service.wait_for("resized to 2");
    // Grow back to 4: new w3 and w4 scopes take jobs.
    service.signal("HUP");
    service.wait_for("resized to 4");
    service.wait_for_line(|line| line.ends_with(" done by pool/w4"));

    // A request that needs 12 more jobs (about 300 ms of the pool's work) is in flight at the
    // SIGTERM: the server waits for it, and it is answered only if the pool still works then.
    let (status, body) = try_get(address, "/progress").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(status, 200, "{body}");
    let target = progress_field(&body, "done") + 12;
    let request = thread::spawn(move || try_get(address, &format!("/wait?done={target}")));
    service.wait_for(&format!("waiting for {target} jobs done"));
    service.signal("TERM");
    let answer = request.join().expect("the request thread");
    let exited = service.wait_exit();
    assert_eq!(
        answer,
        Ok((200, format!("{target} jobs done\n"))),
        "the request in flight at SIGTERM was answered by the pool; stdout: {:?}\nstderr:\n{}",
        exited.stdout,
        exited.stderr
    );
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);

    // Every job started was done exactly once, by the worker that started it.
    let mut started = BTreeMap::new();
    let mut done: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (job, what, worker) in exited.stdout.iter().filter_map(|line| job_line(line)) {
        match what {
            "started" => assert!(started.insert(job, worker).is_none(), "job {job} twice"),
            "done" => done.entry(job).or_default().push(worker),
            other => panic!("unexpected `job {job} {other}`"),
        }
    }
    let done: BTreeMap<u64, &str> = done
        .into_iter()
        .map(|(job, by)| {
            assert_eq!(by.len(), 1, "job {job} done {} times: {by:?}", by.len());
            (job, by[0])
        })
        .collect();
    assert_eq!(started, done, "every job started is done, by its worker");
    assert!(done.len() >= 4 + 12, "{} jobs done", done.len());

    // A worker never stops with a job under way: at each `pool/wK stopped`, its jobs are done.
    let mut under_way: BTreeMap<&str, u64> = BTreeMap::new();
    for line in &exited.stdout {
        if let Some((job, what, worker)) = job_line(line) {
            if what == "started" {
                under_way.insert(worker, job);
            } else {
                under_way.remove(worker);
            }
        } else if let Some(worker) = line.strip_suffix(" stopped") {
            if let Some(job) = under_way.get(worker) {
                panic!(
                    "{worker} stopped with job {job} under way: {:?}",
                    exited.stdout
                );
            }
        }
    }

    // The shrink: w3 and w4 stopped (after their job) before `resized to 2`, and took no job
    // until the next resize began.
    let shrunk = index_of(&exited, "resized to 2");
    let grown = index_of(&exited, "resizing from 2 to 4");
    for removed in ["pool/w3", "pool/w4"] {
        assert!(
            index_of(&exited, &format!("{removed} stopped")) < shrunk,
            "the resize ended before {removed} stopped: {:?}",
            exited.stdout
        );
        let took = exited.stdout[shrunk..grown]
            .iter()
            .filter_map(|line| job_line(line))
            .any(|(_, what, worker)| what == "started" && worker == removed);
        assert!(!took, "{removed} took a job after it was removed");
    }

    // The order at SIGTERM: the HTTP server stopped, then the four workers, then the pool.
    let http_stopped = index_of(&exited, "http stopped");
    let stops: Vec<usize> = (exited.stdout.iter().enumerate())
        .filter(|(_, line)| line.starts_with("pool/w") && line.ends_with(" stopped"))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(stops.len(), 2 + 4, "{:?}", exited.stdout);
    for &stop in &stops[2..] {
        assert!(
            http_stopped < stop,
            "a worker stopped before the HTTP server: {:?}",
            exited.stdout
        );
    }
    let pool_stopped = exited
        .stdout
        .iter()
        .position(|line| line.starts_with("pool stopped: "))
        .unwrap_or_else(|| panic!("no `pool stopped` line: {:?}", exited.stdout));
    assert!(stops.iter().all(|&stop| stop < pool_stopped));
}
