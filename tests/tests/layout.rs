//! The runtime crate's layout holds its line: the folders of `lifecycle/src` import each other in
//! one direction (the order of the `mod` lines in `lib.rs`, each module importing only the ones
//! above it), with no loop between them.
//!
//! The figures it prints (`cargo test -p lifecycle-tests --test layout -- --nocapture`) are the
//! ones the README's "Architecture" section and the issue notes quote.
//!
//! How imports are counted: every `crate::a::b` path outside a comment line is one import from the
//! file it is written in to the module it names. For the folder check a folder and all its files
//! are one module; for the file figures `crate::a::b` names `a/b.rs` when that file exists, else
//! `a`. An import of a module by itself does not count, and neither does `lib.rs` (it declares and
//! re-exports every module).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lifecycle/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read lifecycle/src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `mod` lines of a file, in order (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn mod_lines(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).expect("read a module file");
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub(crate) mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.strip_suffix(';')?.to_string())
        })
        .collect()
}

/// The module a file belongs to, as a path without `.rs`: `tasks/stages`, `tasks` for
/// `tasks/mod.rs`, `failure` for `failure.rs`. Files below a second level count as their parent.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).expect("a file under src");
    let parts: Vec<String> = rel
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [one] => one.clone(),
        [folder, file] if file == "mod" => folder.clone(),
        [folder, file, ..] => {
            if root.join(folder).is_dir() && root.join(folder).join(format!("{file}.rs")).exists() {
                format!("{folder}/{file}")
            } else {
                folder.clone()
            }
        }
        [] => unreachable!("a file has a name"),
    }
}

/// Every `crate::a::b` path named outside comments, resolved to a module.
fn imports(root: &Path, text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let path: String = rest[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            rest = &rest[at + "crate::".len()..];
            let mut segments = path.split("::").filter(|s| !s.is_empty());
            let Some(first) = segments.next() else {
                continue;
            };
            if first == "__private" {
                // The link-time slices the attributes fill: defined in `lib.rs` for the macros.
                continue;
            }
            if first.starts_with(char::is_uppercase) {
                // A root re-export: the checks below ask that code names the defining module.
                found.insert(format!("<root>::{first}"));
                continue;
            }
            let second = segments.next();
            let module = match second {
                Some(second) if root.join(first).join(format!("{second}.rs")).exists() => {
                    format!("{first}/{second}")
                }
                _ => first.to_string(),
            };
            found.insert(module);
        }
    }
    found
}

fn folder(module: &str) -> &str {
    module.split('/').next().unwrap_or(module)
}

struct Graph {
    /// (from, to) between files/modules.
    edges: BTreeSet<(String, String)>,
    /// Root re-exports named inside the crate.
    root_names: Vec<(String, String)>,
}

fn graph() -> Graph {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges = BTreeSet::new();
    let mut root_names = Vec::new();
    for file in &files {
        let from = module_of(&root, file);
        if from == "lib" {
            continue;
        }
        let text = fs::read_to_string(file).expect("read a source file");
        for to in imports(&root, &text) {
            if let Some(name) = to.strip_prefix("<root>::") {
                root_names.push((from.clone(), name.to_string()));
            } else if to != from {
                edges.insert((from.clone(), to));
            }
        }
    }
    Graph { edges, root_names }
}

/// The folders in `lib.rs` order, and each file's place: folder rank, then `mod.rs` first, then
/// the folder's own `mod` lines.
fn order() -> (Vec<String>, BTreeMap<String, (usize, usize)>) {
    let root = src();
    let folders = mod_lines(&root.join("lib.rs"));
    let mut rank = BTreeMap::new();
    for (i, name) in folders.iter().enumerate() {
        rank.insert(name.clone(), (i, 0));
        let file = if root.join(name).join("mod.rs").exists() {
            root.join(name).join("mod.rs")
        } else {
            root.join(format!("{name}.rs"))
        };
        if file.exists() {
            for (j, child) in mod_lines(&file).iter().enumerate() {
                rank.insert(format!("{name}/{child}"), (i, j + 1));
            }
        }
    }
    (folders, rank)
}

/// The strongly connected parts with more than one member (Tarjan's algorithm).
fn loops(nodes: &BTreeSet<String>, edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeSet<(String, String)>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        found: Vec<Vec<String>>,
    }
    fn visit(state: &mut State<'_>, node: &str) {
        let i = state.index.len();
        state.index.insert(node.to_string(), i);
        state.low.insert(node.to_string(), i);
        state.stack.push(node.to_string());
        state.on_stack.insert(node.to_string());
        let next: Vec<String> = state
            .edges
            .iter()
            .filter(|(from, _)| from == node)
            .map(|(_, to)| to.clone())
            .collect();
        for to in next {
            if !state.index.contains_key(&to) {
                visit(state, &to);
                let low = state.low[&to].min(state.low[node]);
                state.low.insert(node.to_string(), low);
            } else if state.on_stack.contains(&to) {
                let low = state.index[&to].min(state.low[node]);
                state.low.insert(node.to_string(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut part = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(&top);
                let done = top == node;
                part.push(top);
                if done {
                    break;
                }
            }
            if part.len() > 1 {
                part.sort();
                state.found.push(part);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn folders_import_in_one_direction_without_loops() {
    let graph = graph();
    let (folders, rank) = order();

    let folder_edges: BTreeSet<(String, String)> = graph
        .edges
        .iter()
        .map(|(from, to)| (folder(from).to_string(), folder(to).to_string()))
        .filter(|(from, to)| from != to)
        .collect();
    let folder_nodes: BTreeSet<String> = folders.iter().cloned().collect();
    let folder_loops = loops(&folder_nodes, &folder_edges);
    let position = |name: &str| folders.iter().position(|f| f == name);
    let folder_back: Vec<&(String, String)> = folder_edges
        .iter()
        .filter(|(from, to)| position(from) < position(to))
        .collect();

    let file_nodes: BTreeSet<String> = graph
        .edges
        .iter()
        .flat_map(|(from, to)| [from.clone(), to.clone()])
        .collect();
    let file_loops = loops(&file_nodes, &graph.edges);
    let place = |name: &str| rank.get(name).copied().unwrap_or((usize::MAX, 0));
    let file_back: Vec<&(String, String)> = graph
        .edges
        .iter()
        .filter(|(from, to)| folder(from) != folder(to) && place(from) < place(to))
        .collect();

    println!("folders, in lib.rs order: {}", folders.join(" > "));
    println!(
        "between folders: {} imports, {} back up, {} loops",
        folder_edges.len(),
        folder_back.len(),
        folder_loops.len()
    );
    println!(
        "between files: {} modules, {} imports, {} back up, {} loops{}",
        file_nodes.len(),
        graph.edges.len(),
        file_back.len(),
        file_loops.len(),
        if file_loops.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                file_loops
                    .iter()
                    .map(|part| part.join(" "))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    for (from, to) in &file_back {
        println!("  back up: {from} -> {to}");
    }

    assert!(
        folder_loops.is_empty(),
        "folders import each other in a loop: {folder_loops:?}"
    );
    // An import from a module to one declared after it in `lib.rs`: from a lower floor back up.
    assert!(
        folder_back.is_empty(),
        "imports run from a folder to one declared after it in lib.rs: {folder_back:?}"
    );
    // The same between files of different folders (inside a folder, `mod.rs` and its files use
    // each other both ways, as a module and its parts do).
    assert!(
        file_back.is_empty(),
        "imports run from a file to one in a folder declared after its own: {file_back:?}"
    );
}

#[test]
fn code_inside_the_crate_names_the_defining_module_not_a_root_re_export() {
    let graph = graph();
    assert!(
        graph.root_names.is_empty(),
        "name the module that defines these, not the crate root: {:?}",
        graph.root_names
    );
}
