//! The module graph points one way (ARCHITECTURE.md): `app` → the commands → `net` and
//! `framing` → `ctx` → `output`. Read from the `crate::` paths of every source file, so
//! a new upward `use` fails here rather than in a reviewer's head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How high each top-level module sits; a module may use only modules below it, and
/// commands may use other commands as long as no cycle forms.
fn rank(module: &str) -> u8 {
    match module {
        "app" => 4,
        "net" | "framing" => 2,
        "ctx" => 1,
        "output" => 0,
        _ => 3, // a command
    }
}

/// Top-level module → the top-level modules its files name with `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").trim_end_matches("_tests");
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !used.is_empty() && used != module {
                    edges.entry(module.to_owned()).or_default().insert(used);
                }
            }
        }
        edges.entry(module.to_owned()).or_default();
    }
    edges
}

fn shown(g: &BTreeMap<String, BTreeSet<String>>) -> String {
    g.iter()
        .map(|(m, to)| {
            format!(
                "{m} -> {}",
                to.iter().cloned().collect::<Vec<_>>().join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A cycle through `from`, if any: the path back to it.
fn cycle(
    g: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    at: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in g.get(at).into_iter().flatten() {
        if next == from {
            let mut found = path.clone();
            found.push(next.clone());
            return Some(found);
        }
        if path.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(c) = cycle(g, from, next, path) {
            return Some(c);
        }
        path.pop();
    }
    None
}

#[test]
fn modules_depend_downwards_only() {
    let g = graph();
    assert!(
        g.contains_key("app") && g.contains_key("output"),
        "{}",
        shown(&g)
    );
    for (module, used) in &g {
        for u in used {
            assert!(
                rank(u) < rank(module) || (rank(u) == 3 && rank(module) == 3),
                "{module} uses {u}, which sits at or above it:\n{}",
                shown(&g)
            );
        }
        if let Some(c) = cycle(&g, module, module, &mut vec![module.clone()]) {
            panic!("a cycle: {}\n{}", c.join(" -> "), shown(&g));
        }
    }
}

#[test]
fn the_check_sees_a_cycle_and_an_upward_arrow() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("tcp".into()).or_default().insert("udp".into());
    g.entry("udp".into()).or_default().insert("tcp".into());
    assert!(cycle(&g, "tcp", "tcp", &mut vec!["tcp".into()]).is_some());
    g.get_mut("udp").unwrap().clear();
    assert!(cycle(&g, "tcp", "tcp", &mut vec!["tcp".into()]).is_none());
    assert!(rank("app") > rank("tcp") && rank("output") < rank("ctx"));
}
