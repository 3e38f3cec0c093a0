//! Compile cost: clean builds of the macro crates, and incremental rebuilds of one app written
//! with the attributes and by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::{Row, Samples};

fn cargo_build(manifest_dir: &Path, target_dir: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet"])
        .current_dir(manifest_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .stdout(Stdio::null())
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo build failed in {}",
        manifest_dir.display()
    );
    started.elapsed()
}

/// Clean (dev-profile) builds of each probe, in a fresh target directory every time.
pub fn clean_builds(probes: &[(&str, PathBuf)], runs: usize, scratch: &Path) -> Vec<Row> {
    let mut samples = vec![Samples::default(); probes.len()];
    for (_, dir) in probes {
        // Resolve and download once, outside the timing.
        cargo_build(dir, &scratch.join("warm"));
    }
    for run in 0..runs {
        for (i, (_, dir)) in probes.iter().enumerate() {
            let target = scratch.join(format!("clean-{i}-{run}"));
            samples[i].push_ms(cargo_build(dir, &target));
            let _ = std::fs::remove_dir_all(&target);
        }
    }
    probes
        .iter()
        .zip(samples)
        .map(|((name, _), samples)| Row {
            name: (*name).to_owned(),
            samples,
            extra: vec![],
        })
        .collect()
}

/// Incremental rebuilds after a one-line change to `src/main.rs`, in a warmed target directory.
pub fn incremental(apps: &[(&str, PathBuf)], runs: usize, scratch: &Path) -> Vec<Row> {
    let mut samples = vec![Samples::default(); apps.len()];
    let originals: Vec<String> = apps
        .iter()
        .map(|(_, dir)| std::fs::read_to_string(dir.join("src/main.rs")).expect("read main.rs"))
        .collect();
    for (i, (_, dir)) in apps.iter().enumerate() {
        cargo_build(dir, &scratch.join(format!("incr-{i}")));
    }
    for run in 0..runs {
        for (i, (_, dir)) in apps.iter().enumerate() {
            let main = dir.join("src/main.rs");
            std::fs::write(&main, format!("{}\n// edit {run}\n", originals[i]))
                .expect("edit main.rs");
            samples[i].push_ms(cargo_build(dir, &scratch.join(format!("incr-{i}"))));
        }
    }
    for (i, (_, dir)) in apps.iter().enumerate() {
        std::fs::write(dir.join("src/main.rs"), &originals[i]).expect("restore main.rs");
    }
    apps.iter()
        .zip(samples)
        .map(|((name, _), samples)| Row {
            name: (*name).to_owned(),
            samples,
            extra: vec![],
        })
        .collect()
}
