//! The library's code reachable from the public API does not panic on user
//! input: no `unwrap()`, `panic!`, `assert!` or `todo!` outside its tests
//! (an `expect("why")` or `unreachable!("why")` states an invariant the code
//! itself keeps, and says which).

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    ".unwrap()",
    "panic!(",
    "assert!(",
    "assert_eq!(",
    "assert_ne!(",
    "todo!(",
    "unimplemented!(",
];

/// The lines of `src` before its unit tests, with comments removed.
fn library_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .collect()
}

fn visit(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            visit(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in library_lines(&text) {
                for f in FORBIDDEN {
                    if line.contains(f) {
                        found.push(format!("{}:{n}: {}", path.display(), line.trim()));
                    }
                }
                let bare = line.contains(".expect()") || line.contains("unreachable!()");
                if bare {
                    found.push(format!(
                        "{}:{n}: states no reason: {}",
                        path.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
}

#[test]
fn library_code_has_no_panics_by_contract() {
    let mut found = Vec::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
