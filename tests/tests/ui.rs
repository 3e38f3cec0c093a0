//! Compile tests for the attributes: `ui/fail/<error>.rs` must fail with exactly the message in
//! `ui/fail/<error>.stderr` (one file per diagnostic), and every `ui/pass/*.rs` must compile and
//! run to exit code 0 (their `main` bodies return at once, so the shutdown runs straight away).
//!
//! After an intended change to a message, regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p lifecycle-tests --test ui` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
