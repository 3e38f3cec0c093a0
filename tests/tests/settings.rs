//! The rules of the settings live in one table at run time (`lifecycle/src/config/settings.rs`:
//! key, variable, default, whether zero is accepted, a doc line). The macro crate cannot read it
//! (it cannot depend on the runtime), and the README writes it out for people: this test keeps
//! the three equal, so that a key added to one and not the others fails here, naming what
//! differs.

use std::collections::BTreeMap;

use lifecycle::Signal;
use lifecycle_macros_impl as imp;

/// The runtime's table: each key with whether zero is accepted (`Some(true)`: allowed; `None`:
/// not a number).
fn runtime_zero_rules() -> BTreeMap<&'static str, Option<bool>> {
    lifecycle::__private::settings()
        .iter()
        .map(|setting| {
            let allowed = setting
                .zero()
                .map(|zero| zero == lifecycle::__private::Zero::Allowed);
            (setting.key, allowed)
        })
        .collect()
}

#[test]
fn the_macro_accepts_exactly_the_keys_of_the_table_with_the_same_zero_rules() {
    let macro_rules: BTreeMap<&str, Option<bool>> = imp::main_keys().into_iter().collect();
    let runtime = runtime_zero_rules();
    let only_macro: Vec<_> = macro_rules
        .keys()
        .filter(|k| !runtime.contains_key(*k))
        .collect();
    let only_runtime: Vec<_> = runtime
        .keys()
        .filter(|k| !macro_rules.contains_key(*k))
        .collect();
    assert!(
        only_macro.is_empty() && only_runtime.is_empty(),
        "#[lifecycle::main] keys and the table of settings differ: only the macro has \
         {only_macro:?}, only the table has {only_runtime:?} \
         (lifecycle-macros-impl/src/entry/args.rs `KEYS`; lifecycle/src/config/settings.rs)"
    );
    for (key, rule) in &runtime {
        assert_eq!(
            macro_rules[key], *rule,
            "`{key}`: whether zero is accepted (Some(true): yes) differs between the macro \
             (left, `KEYS` in lifecycle-macros-impl/src/entry/args.rs) and the table of \
             settings (right)"
        );
    }
}

#[test]
fn the_macro_knows_the_signals_the_runtime_has_by_the_same_names() {
    let runtime: Vec<(&str, String)> = Signal::ALL
        .iter()
        .map(|signal| (signal.name(), format!("{signal:?}")))
        .collect();
    let macro_names: Vec<(&str, String)> = imp::signal_names()
        .into_iter()
        .map(|(name, variant)| (name, variant.to_owned()))
        .collect();
    assert_eq!(
        macro_names, runtime,
        "the macro's signal names (left, `SIGNALS` in lifecycle-macros-impl/src/entry/args.rs) \
         and `lifecycle::Signal::ALL` (right) differ"
    );
}

/// One row of the README's table of settings: key, default, variable.
#[derive(Debug, PartialEq)]
struct Row {
    key: String,
    default: String,
    variable: Option<String>,
}

/// The rows of the table under "### Configuration" in the README.
fn readme_rows() -> Vec<Row> {
    let readme = include_str!("../../README.md");
    let after = readme
        .split_once("| attribute key | default | environment override |")
        .map_or("", |(_, after)| after);
    let lines = after.lines().skip(2); // the rest of the header line, and `|---|---|---|`
    lines
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let cell = |i: usize| cells.get(i).copied().unwrap_or("");
            Row {
                key: cell(0).trim_matches('`').to_owned(),
                default: first_code(cell(1)).to_owned(),
                variable: cell(2).split_once("LIFECYCLE_").map(|(_, rest)| {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    format!("LIFECYCLE_{name}")
                }),
            }
        })
        .collect()
}

/// The first `` `code` `` of a cell, or the whole cell when it has none.
fn first_code(cell: &str) -> &str {
    match cell.strip_prefix('`').and_then(|rest| rest.split_once('`')) {
        Some((code, _)) => code,
        None => cell,
    }
}

#[test]
fn the_readme_table_is_the_table_of_settings_row_by_row() {
    let readme = readme_rows();
    let runtime: Vec<Row> = lifecycle::__private::settings()
        .iter()
        .map(|setting| Row {
            key: setting.key.to_owned(),
            default: setting.default.to_owned(),
            variable: setting.variable.map(str::to_owned),
        })
        .collect();
    assert!(
        !readme.is_empty(),
        "no table of settings found in the README"
    );
    let rows = readme.len().max(runtime.len());
    let differences: Vec<String> = (0..rows)
        .filter(|&i| readme.get(i) != runtime.get(i))
        .map(|i| {
            format!(
                "row {}: README {:?}, table {:?}",
                i + 1,
                readme.get(i),
                runtime.get(i)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "the README's table under \"### Configuration\" and the table of settings in \
         lifecycle/src/config/settings.rs differ (same keys, defaults and variables, in the same \
         order):\n{}",
        differences.join("\n")
    );
}
