//! The memory of idle tracked tasks: resident set size added per parked task, each sample a fresh
//! `rss_probe` process.

use std::path::Path;
use std::process::Command;

use crate::stats::{fmt, Row, Samples};

/// One probe run: the bytes added to the resident set size by `n` parked tasks.
fn probe(bin: &Path, kind: &str, n: usize) -> u64 {
    let out = Command::new(bin)
        .args([kind, &n.to_string()])
        .output()
        .unwrap_or_else(|err| panic!("start {}: {err}", bin.display()));
    assert!(out.status.success(), "rss_probe {kind}: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<u64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("rss "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match fields[..] {
        [before, after] => after.saturating_sub(before),
        _ => panic!("rss_probe {kind}: no `rss <before> <after>` line in {stdout:?}"),
    }
}

/// `runs` processes per contender, interleaved; samples are bytes per task, with the median of the
/// whole added RSS as an extra column.
pub fn rss(bin: &Path, contenders: &[(&str, &str)], runs: usize, n: usize) -> Vec<Row> {
    let mut added: Vec<Samples> = vec![Samples::default(); contenders.len()];
    for _ in 0..runs {
        for (i, (_, kind)) in contenders.iter().enumerate() {
            added[i].0.push(probe(bin, kind, n) as f64);
        }
    }
    contenders
        .iter()
        .zip(added)
        .map(|((name, _), added)| Row {
            name: (*name).to_owned(),
            extra: vec![fmt(added.median() / (1024.0 * 1024.0))],
            samples: Samples(added.0.iter().map(|bytes| bytes / n as f64).collect()),
        })
        .collect()
}
