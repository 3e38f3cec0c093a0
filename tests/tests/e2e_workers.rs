//! The `workers` example as a real process: stopped by SIGTERM half way, started again, and
//! checked from its output that every job was done exactly once across the restart.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::time::Duration;

use lifecycle_tests::{Exited, ScratchDir, Service};

const WORKERS: &str = env!("CARGO_BIN_EXE_example-workers");
const JOBS: u64 = 40;

fn start(state: &ScratchDir) -> Service {
    Service::start(
        WORKERS,
        &[],
        &[
            ("STATE_DIR", state.as_str()),
            ("JOBS", &JOBS.to_string()),
            ("JOB_MS", "150"),
            ("WORKERS", "4"),
        ],
    )
}

/// The job ids in lines `job N <what> by worker W`.
fn jobs(exited: &Exited, what: &str) -> Vec<u64> {
    exited
        .lines_starting_with("job ")
        .into_iter()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let id = words.nth(1)?.parse().ok()?;
            (words.next()? == what).then_some(id)
        })
        .collect()
}

/// The number in the line that starts with `prefix` and is followed by a count.
fn count_after(exited: &Exited, prefix: &str) -> usize {
    exited
        .stdout
        .iter()
        .find_map(|line| line.strip_prefix(prefix)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no line `{prefix}N ...` in {:?}", exited.stdout))
}

#[test]
fn every_job_is_done_exactly_once_across_a_sigterm_and_a_restart() {
    let state = ScratchDir::new("workers-restart");

    // First run: stop it once a few jobs are done.
    let mut first = start(&state);
    for _ in 0..6 {
        first.wait_for_line(|line| line.starts_with("job ") && line.contains(" done "));
    }
    first.signal("TERM");
    let first = first.wait_exit();
    assert_eq!(first.code(), 0, "stderr:\n{}", first.stderr);
    eprintln!(
        "measured: first run exited {:?} after SIGTERM (jobs take 150 ms)",
        first.exited_after
    );
    assert!(
        first.exited_after < Duration::from_secs(5),
        "the exit follows the jobs under way, not the 10 s grace period"
    );
    let mut started = jobs(&first, "started");
    let mut done_first = jobs(&first, "done");
    started.sort_unstable();
    done_first.sort_unstable();
    assert_eq!(
        started, done_first,
        "every job a worker started was finished before the exit"
    );
    let left = count_after(&first, "hook save-queue: ");
    assert!(
        left > 0,
        "the first run must leave jobs for the second: {:?}",
        first.stdout
    );
    assert_eq!(left, JOBS as usize - done_first.len());

    // Second run: picks up what was left, finishes it, and exits by itself.
    let second = start(&state).wait_exit();
    assert_eq!(second.code(), 0, "stderr:\n{}", second.stderr);
    assert_eq!(count_after(&second, "restored "), left);
    assert!(second
        .stdout
        .contains(&"main: queue empty, every job done".to_owned()));
    assert_eq!(count_after(&second, "hook save-queue: "), 0);

    let mut times_done: BTreeMap<u64, usize> = BTreeMap::new();
    for job in done_first.into_iter().chain(jobs(&second, "done")) {
        *times_done.entry(job).or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> = (1..=JOBS).map(|job| (job, 1)).collect();
    assert_eq!(times_done, expected, "each job done exactly once");
}
