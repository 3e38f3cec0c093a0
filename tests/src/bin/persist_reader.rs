//! A second process for `tests/faults_persist.rs`: calls `lifecycle::state_file::read_state` on
//! the path in its first argument again and again, as a service starting beside a running one
//! does, until it is killed. It prints `reading` after the first call, and `error: ...` for any
//! call that fails.

use std::path::PathBuf;

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: persist_reader PATH");
        std::process::exit(2);
    };
    let mut first = true;
    loop {
        if let Err(err) = lifecycle::state_file::read_state(&path) {
            println!("error: {err}");
        }
        if first {
            println!("reading");
            first = false;
        }
    }
}
