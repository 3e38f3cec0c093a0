//! The shutdown report as one JSON line (`LIFECYCLE_REPORT_FORMAT=json`, the runtime's `serde`
//! feature), read from a real process's standard error after a real SIGTERM, and checked against
//! the text report of the same scenario.
#![cfg(unix)]

use lifecycle_tests::{Exited, Service};
use serde_json::Value;

const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");

/// The `serve` scenario (a persist hook, three ordered shutdown hooks), ended by SIGTERM.
fn serve_until_sigterm(env: &[(&str, &str)]) -> Exited {
    let mut service = Service::start(FIXTURE, &["serve"], env);
    service.wait_for("ready");
    service.signal("TERM");
    service.wait_exit()
}

#[test]
fn the_json_report_is_the_last_stderr_line_and_says_what_the_text_says() {
    let exited = serve_until_sigterm(&[("LIFECYCLE_REPORT_FORMAT", "json")]);
    assert_eq!(exited.code(), 0, "stderr:\n{}", exited.stderr);
    let last = exited.stderr.lines().last().unwrap_or_default();
    let json: Value = serde_json::from_str(last).unwrap_or_else(|err| {
        panic!(
            "the last stderr line is not JSON ({err}):\n{}",
            exited.stderr
        )
    });
    assert!(
        !exited.stderr.contains("shutdown finished in"),
        "JSON instead of the text, not beside it:\n{}",
        exited.stderr
    );
    assert_eq!(json["schema"], 1);
    assert_eq!(json["code"], 0);
    assert_eq!(json["trigger"], "SIGTERM");
    assert_eq!(json["main"]["outcome"], "returned");
    let hooks: Vec<(&str, &str, &str)> = json["hooks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|hook| {
            let field = |key: &str| hook[key].as_str().unwrap_or_default();
            (field("kind"), field("name"), field("outcome"))
        })
        .collect();
    assert_eq!(
        hooks,
        [
            ("persist", "save-state", "ok"),
            ("shutdown", "flush-metrics", "ok"),
            ("shutdown", "stop-consumers", "ok"),
            ("shutdown", "close-db", "ok"),
        ]
    );

    // The same scenario with the text report: the same trigger and exit code.
    let text = serve_until_sigterm(&[]);
    assert_eq!(text.code(), 0, "stderr:\n{}", text.stderr);
    let first = format!(
        "(trigger: {}; exit code {})",
        json["trigger"].as_str().unwrap_or_default(),
        json["code"]
    );
    assert!(text.stderr.contains(&first), "{first} in:\n{}", text.stderr);
    for (_, name, _) in &hooks {
        assert!(text.stderr.contains(name), "{name} in:\n{}", text.stderr);
    }
}

#[test]
fn a_bad_report_format_stops_start_up_with_exit_78_naming_the_variable() {
    let service = Service::start(FIXTURE, &["serve"], &[("LIFECYCLE_REPORT_FORMAT", "yaml")]);
    let exited = service.wait_exit();
    assert_eq!(exited.code(), 78, "stderr:\n{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("invalid LIFECYCLE_REPORT_FORMAT=\"yaml\""),
        "{}",
        exited.stderr
    );
}

/// `#[lifecycle::main(report = "json")]` sets the format on the config it builds; a value that is
/// neither `"text"` nor `"json"` is a compile error on the literal that suggests the near one.
#[test]
fn the_main_attribute_reads_the_report_key() {
    use quote::quote;
    let item = quote!(
        async fn main(lc: lifecycle::Lifecycle) {}
    );
    let expand = |args| lifecycle_macros_impl::main(args, item.clone()).to_string();

    let json = expand(quote!(report = "json"));
    assert!(
        json.contains("with_report_format (const { :: lifecycle :: __private :: report_json () })"),
        "{json}"
    );
    assert!(!json.contains("compile_error"), "{json}");
    let text = expand(quote!(report = "text"));
    assert!(!text.contains("with_report_format"), "{text}");

    let typo = expand(quote!(report = "jsn"));
    assert!(
        typo.contains("compile_error")
            && typo.contains("unknown report format `jsn`; did you mean `\\\"json\\\"`?"),
        "{typo}"
    );
}
