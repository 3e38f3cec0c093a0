//! Periodic checkpoints under SIGKILL: the `checkpointer` fixture writes a 1 MiB state with a
//! checksum every millisecond (`#[persist(every = "1ms")]`,
//! `lifecycle::state_file::write_atomic`); it is killed again and again at varied moments, and
//! after every kill the state file must be whole, and must be what the next start restores.
#![cfg(unix)]

use lifecycle_tests::{checkpoint, ScratchDir, Service};

const CHECKPOINTER: &str = env!("CARGO_BIN_EXE_checkpointer");
const KILLS: u64 = 40;

#[test]
fn sigkill_during_periodic_checkpoints_never_leaves_a_torn_file() {
    let state = ScratchDir::new("checkpoint-kill");
    let path = state.path().join(checkpoint::FILE_NAME);
    let mut last_generation = 0;

    for round in 0..KILLS {
        let mut service = Service::start(CHECKPOINTER, &[], &[("STATE_DIR", state.as_str())]);
        // What this start restored is what the last kill left.
        let restored = service.wait_for_line(|line| {
            line.starts_with("restored generation ") || line == "no checkpoint yet"
        });
        let restored: u64 = restored
            .strip_prefix("restored generation ")
            .map_or(0, |generation| generation.parse().expect("generation"));
        assert_eq!(
            restored, last_generation,
            "round {round}: restored {restored}"
        );

        // Kill it after a varying number of checkpoints (1 to 7): in most rounds as a write
        // starts (the line is printed just before `write_atomic`), in the others just after one
        // ended.
        let moment = if round % 3 == 2 { "saved " } else { "saving " };
        // One whole checkpoint of this run first: from then on the file must always be there.
        service.wait_for_line(|line| line.starts_with("saved "));
        for _ in 0..=round % 7 {
            service.wait_for_line(|line| line.starts_with(moment));
        }
        let killed = service.kill();
        assert_eq!(
            killed.killed_by(),
            Some(9),
            "round {round}: {:?}",
            killed.status
        );

        let file = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("round {round}: no state file after the kill: {err}"));
        let generation = checkpoint::decode(&file)
            .unwrap_or_else(|err| panic!("round {round}: the state file is damaged: {err}"));
        assert!(
            generation >= last_generation,
            "round {round}: generation went back from {last_generation} to {generation}"
        );
        last_generation = generation;
    }

    // A kill in the middle of a write leaves that write's temporary file behind (the target is
    // untouched). A start's `read_state` removes those whose writer is gone once they are a
    // minute old, so within this test they stay: count them.
    let leftovers = std::fs::read_dir(state.path())
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.file_name() != checkpoint::FILE_NAME)
        })
        .count();
    eprintln!("measured: {KILLS} kills left {leftovers} temporary files beside the state file");

    // One more start restores the last state whole; its own clean shutdown saves once more.
    let mut service = Service::start(CHECKPOINTER, &[], &[("STATE_DIR", state.as_str())]);
    service.wait_for(&format!("restored generation {last_generation}"));
    service.signal("TERM");
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let generation = checkpoint::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert!(generation >= last_generation);
}
