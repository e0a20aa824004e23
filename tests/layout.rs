//! The shape of the tree, as the restructure left it (issue 38): no source file over 800 lines,
//! no folder holding more than 30 % of the lines of `src/` and `www/`, and no import circles
//! between the files of `src/` — a file never imports one that, directly or through others,
//! imports it back. Test code (`tests.rs`, `test_support.rs`, `#[cfg(test)] mod tests`) may
//! reach anywhere and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;
const MAX_FOLDER_SHARE: f64 = 0.30;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                // The wasm modules' generated glue (www/pkg*/, git-ignored) is built, not written.
                let generated =
                    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("pkg"));
                if !generated {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every source file of the core and the page, with its line count.
fn sources() -> Vec<(PathBuf, usize)> {
    let mut all = files(&root().join("src"), &["rs"]);
    all.extend(files(&root().join("www"), &["js", "html", "css"]));
    all.into_iter()
        .map(|path| {
            let lines = std::fs::read_to_string(&path).expect("a source file").lines().count();
            (path.strip_prefix(root()).expect("under the root").to_path_buf(), lines)
        })
        .collect()
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, lines)| *lines > MAX_FILE_LINES)
        .map(|(path, lines)| format!("{} ({lines} lines)", path.display()))
        .collect();
    assert!(long.is_empty(), "split these by concept: {long:?}");
}

#[test]
fn no_folder_holds_more_than_30_percent_of_the_lines() {
    let sources = sources();
    let total: usize = sources.iter().map(|(_, lines)| lines).sum();
    let mut folders: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (path, lines) in &sources {
        // Every folder a file lies in, below `src/` and `www/` themselves.
        for folder in path.ancestors().skip(1) {
            if folder.components().count() >= 2 {
                *folders.entry(folder.to_path_buf()).or_default() += lines;
            }
        }
    }
    let (biggest, lines) = folders.iter().max_by_key(|(_, lines)| **lines).expect("folders");
    let share = *lines as f64 / total as f64;
    assert!(
        share <= MAX_FOLDER_SHARE,
        "{} holds {lines} of {total} lines ({:.1} %)",
        biggest.display(),
        100.0 * share
    );
}

/// A Rust file's module path within its crate, e.g. `["cpu", "kernels", "fused"]`.
fn module_path(crate_root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(crate_root).expect("a file of the crate");
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string literals and its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            c => out.push(c),
        }
    }
    out
}

/// The paths of `use` trees in `code`, expanded: `use a::{b, c::d};` gives `a::b` and `a::c::d`.
fn use_paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let head = tree[..open].trim().trim_end_matches("::");
                let prefix = [prefix, head]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("::");
                let inner = &tree[open + 1..tree.len() - 1];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&prefix, &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                expand(&prefix, &inner[start..], out);
            }
            _ if tree.is_empty() => {}
            _ => {
                let tree = tree.split(" as ").next().unwrap_or(tree).trim();
                out.push(if prefix.is_empty() {
                    tree.to_string()
                } else {
                    format!("{prefix}::{tree}")
                });
            }
        }
    }
    let mut out = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(at) = statement.find("use ") else { continue };
        let before = statement[..at].trim_end();
        if !(before.is_empty()
            || before.ends_with("pub")
            || before.ends_with(')')
            || before.ends_with(']')
            || before.ends_with('}'))
        {
            continue;
        }
        expand("", &statement[at + 4..], &mut out);
    }
    out
}

/// Other paths written out in the code: `crate::a::b(…)`, `super::x::y`, `child::z`.
fn inline_paths(code: &str, children: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || !(word(bytes[i - 1]) || bytes[i - 1] == b':')) {
            let mut end = i;
            while end < bytes.len()
                && (word(bytes[end])
                    || (bytes[end] == b':' && bytes.get(end + 1) == Some(&b':'))
                    || (bytes[end] == b':' && end > 0 && bytes[end - 1] == b':'))
            {
                end += 1;
            }
            let path = code[i..end].trim_end_matches(':');
            let first = path.split("::").next().unwrap_or("");
            if path.contains("::")
                && (matches!(first, "crate" | "super" | "self" | "dgflow")
                    || children.contains(first))
            {
                out.push(path.to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

struct Crate {
    name: &'static str,
    root: PathBuf,
    files: Vec<PathBuf>,
}

#[test]
fn no_file_of_src_imports_one_that_imports_it_back() {
    let src = root().join("src");
    let bin = src.join("bin/dgflow");
    let all = files(&src, &["rs"]);
    let crates = [
        Crate {
            name: "dgflow",
            root: src.clone(),
            files: all.iter().filter(|f| !f.starts_with(&bin)).cloned().collect(),
        },
        Crate {
            name: "bin",
            root: bin.clone(),
            files: all.iter().filter(|f| f.starts_with(&bin)).cloned().collect(),
        },
    ];
    // Every module of both crates, by its full path (the crate's name first).
    let mut modules: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for krate in &crates {
        for file in &krate.files {
            let mut path = vec![krate.name.to_string()];
            path.extend(module_path(&krate.root, file));
            modules.insert(path, file.clone());
        }
    }
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for krate in &crates {
        for file in &krate.files {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "tests.rs" || name == "test_support.rs" {
                continue;
            }
            let mut here = vec![krate.name.to_string()];
            here.extend(module_path(&krate.root, file));
            let code = code(&std::fs::read_to_string(file).expect("a source file"));
            // A mod.rs (or a crate root) is the module its children's `super` names.
            let children: BTreeSet<String> = modules
                .keys()
                .filter(|m| m.len() == here.len() + 1 && m.starts_with(&here))
                .map(|m| m[here.len()].clone())
                .collect();
            for path in use_paths(&code).into_iter().chain(inline_paths(&code, &children)) {
                let mut segments: Vec<&str> = path.split("::").collect();
                let mut target: Vec<String> = match segments[0] {
                    "crate" => vec![krate.name.to_string()],
                    "dgflow" => vec!["dgflow".to_string()],
                    "self" => here.clone(),
                    "super" => {
                        let mut up = here.clone();
                        while segments.first() == Some(&"super") {
                            up.pop();
                            segments.remove(0);
                        }
                        segments.insert(0, "super");
                        up
                    }
                    first if children.contains(first) => {
                        segments.insert(0, "self");
                        here.clone()
                    }
                    _ => continue,
                };
                target.extend(segments[1..].iter().map(|s| s.to_string()));
                // The deepest module the path names: the rest are items of it.
                let module = (1..=target.len()).rev().find_map(|n| modules.get(&target[..n]));
                if let Some(to) = module.filter(|to| *to != file) {
                    edges.entry(file.clone()).or_default().insert(to.clone());
                }
            }
        }
    }
    // A circle is a path from a file back to itself.
    let name = |p: &Path| p.strip_prefix(root()).unwrap_or(p).display().to_string();
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    circles.push(
                        trail.iter().map(|p| name(p)).collect::<Vec<_>>().join(" → ")
                            + " → "
                            + &name(start),
                    );
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
    // The check sees imports at all: the flow's stepper imports its settings, not the reverse.
    let (stepper, settings) = (src.join("flow/mod.rs"), src.join("flow/settings.rs"));
    assert!(
        edges[&stepper].contains(&settings)
            && !edges.get(&settings).is_some_and(|e| e.contains(&stepper))
    );
}
