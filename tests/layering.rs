//! The crate's layering, checked on its source: imports point one way.
//!
//! - Between top-level modules, every `crate::X` path in code goes to a
//!   module [`LAYERS`] allows: *when* (`workload`), *what* (`protocol`),
//!   *measure* (`metrics`) and *tell* (`report`) stay apart, `report`
//!   reads results and metrics but never the plan (`config`), and nothing
//!   below `runner` reaches up.
//! - Between files, no module reaches one that reaches it back, directly
//!   or through others (a parent's `mod child;` and `pub use child::…`
//!   are not edges; test files are left out).
//!
//! Paths in comments and strings are ignored, except serde's
//! `with = "crate::…"`, which is a real dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("units", &[]),
    ("audio", &["units"]),
    ("input", &["audio", "units"]),
    ("rtc", &["audio"]),
    ("protocol", &["audio", "rtc", "units"]),
    ("metrics", &["audio", "protocol", "units"]),
    ("workload", &["metrics", "protocol", "units"]),
    ("result", &["metrics", "protocol", "workload", "units"]),
    ("mock", &["audio", "rtc", "units"]),
    (
        "config",
        &[
            "audio", "input", "metrics", "protocol", "result", "units", "workload",
        ],
    ),
    (
        "report",
        &["metrics", "protocol", "result", "units", "workload"],
    ),
    (
        "runner",
        &[
            "audio", "config", "input", "metrics", "protocol", "report", "result", "units",
            "workload",
        ],
    ),
    ("shutdown", &["runner", "workload"]),
    (
        "cli",
        &[
            "audio", "config", "input", "metrics", "mock", "protocol", "report", "result",
            "runner", "shutdown", "units", "workload",
        ],
    ),
];

/// Every `.rs` file under `dir` but tests, as (module path, file).
fn modules(root: &Path, dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            modules(root, &path, out);
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".rs") || name.ends_with("tests.rs") || name == "main.rs" {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("under src")
            .with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        out.push((parts, path));
    }
}

/// `src` without comments and string literals, keeping serde's
/// `with = "crate::…"` targets as paths.
fn code(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        // serde's `with = "crate::…"` names a module: keep the line whole.
        if line.contains("with = \"crate::") {
            out.push_str(&line.replace('"', " "));
            out.push('\n');
            continue;
        }
        let mut in_str = false;
        let mut s = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => in_str = !in_str,
                c if !in_str => s.push(c),
                _ => {}
            }
        }
        out.push_str(&s);
        out.push('\n');
    }
    out
}

/// The module paths a file's code names: `crate::a::b`, `super::x`, and
/// its own children by name (`engine::drive`), except in the `mod` and
/// `pub use` lines that declare and re-export them. Inline test modules
/// are left out.
fn references(module: &[String], children: &[String], src: &str) -> Vec<Vec<String>> {
    let src = src.split("#[cfg(test)]\nmod tests {").next().unwrap_or(src);
    let code: String = code(src)
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("pub use ") || t.starts_with("mod ") || t.starts_with("pub mod "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut refs = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let starts: Vec<String> = ["crate::".to_string(), "super::".to_string()]
        .into_iter()
        .chain(children.iter().map(|c| format!("{c}::")))
        .collect();
    for start in &starts {
        let start = start.as_str();
        let mut at = 0;
        while let Some(i) = code[at..].find(start) {
            let i = at + i;
            at = i + start.len();
            if i > 0 && ident(bytes[i - 1]) {
                continue;
            }
            // Segments after the prefix, up to a brace, space or punctuation.
            let mut path: Vec<String> = Vec::new();
            let mut rest = &code[at..];
            loop {
                let end = rest.bytes().position(|b| !ident(b)).unwrap_or(rest.len());
                if end == 0 {
                    break;
                }
                path.push(rest[..end].to_string());
                rest = &rest[end..];
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            let mut full: Vec<String> = match start {
                "crate::" => Vec::new(),
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                child => {
                    let mut own = module.to_vec();
                    own.push(child.trim_end_matches("::").to_string());
                    own
                }
            };
            full.extend(path);
            refs.push(full);
        }
    }
    refs
}

#[test]
fn imports_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    modules(&root, &root, &mut files);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong_layer = Vec::new();
    for (module, path) in &files {
        let src = std::fs::read_to_string(path).expect("readable");
        let children: Vec<String> = known
            .iter()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
            .filter_map(|k| k.last().cloned())
            .collect();
        for r in references(module, &children, &src) {
            // The longest known module the path starts with.
            let Some(target) = (1..=r.len())
                .rev()
                .map(|n| r[..n].to_vec())
                .find(|p| known.contains(p))
            else {
                continue;
            };
            if target == *module {
                continue;
            }
            if let (Some(from), Some(to)) = (module.first(), target.first()) {
                let allowed = LAYERS
                    .iter()
                    .find(|(m, _)| m == from)
                    .is_some_and(|(_, deps)| deps.contains(&to.as_str()));
                if from != to && !allowed {
                    wrong_layer.push(format!("{} uses crate::{}", path.display(), r.join("::")));
                }
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(
        wrong_layer.is_empty(),
        "imports the layers do not allow (tests/layering.rs LAYERS):\n{}",
        wrong_layer.join("\n")
    );
    // A circle between files: modules that reach each other. A parent
    // (`mod.rs`) and its own files may (`cli` runs `cli::run`, which
    // returns `cli::EXIT_OK`); any other circle may not.
    let reach = |from: &Vec<String>| {
        let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut todo: Vec<&Vec<String>> = edges.get(from).into_iter().flatten().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
        seen
    };
    let reached: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut circles = Vec::new();
    for (m, out) in &reached {
        if !out.contains(*m) {
            continue;
        }
        let circle: Vec<&Vec<String>> = reached
            .iter()
            .filter(|(o, r)| out.contains(**o) && r.contains(*m))
            .map(|(o, _)| *o)
            .collect();
        let common = circle.iter().skip(1).fold(circle[0].clone(), |p, o| {
            p.iter()
                .zip(o.iter())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a.clone())
                .collect()
        });
        if !circle.iter().any(|o| **o == common) {
            circles.push(m.join("::"));
        }
    }
    assert!(
        circles.is_empty(),
        "modules that reach themselves: {circles:?}"
    );
}
