//! The layering of the root package and of `crates/detector`: each
//! `lib.rs` declares its modules in layers, lowest first (a group of `mod`
//! lines between blank lines is one layer), and a module may name only
//! modules of lower layers through `crate::` paths, in its code and its
//! tests alike. This test reads the sources and fails on any module that
//! names one of its own layer or above.

use std::collections::BTreeMap;
use std::path::Path;

/// The layers of a `lib.rs`: module name to layer index, and each
/// crate-root re-export (`pub use m::{A, B}`) to the module it comes from.
fn layers(lib: &str) -> (BTreeMap<String, usize>, BTreeMap<String, String>) {
    let mut modules = BTreeMap::new();
    let mut reexports = BTreeMap::new();
    let mut layer = 0;
    let mut in_group = false;
    for line in lib.lines().map(str::trim) {
        let decl = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = decl {
            in_group = true;
            modules.insert(name.to_string(), layer);
        } else if line.is_empty() && in_group {
            layer += 1;
            in_group = false;
        } else if let Some(rest) = line.strip_prefix("pub use ") {
            let (module, names) = rest.split_once("::").unwrap_or((rest, ""));
            for name in names.trim_matches(|c| "{};".contains(c)).split(',') {
                reexports.insert(name.trim().to_string(), module.to_string());
            }
        }
    }
    (modules, reexports)
}

/// The first path segments after every `crate::` in `code` (comments
/// left out), `crate::{a::X, b}` giving `a` and `b`.
fn crate_paths(code: &str) -> Vec<String> {
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at its top-level commas.
            let (mut depth, mut start) = (0usize, 0usize);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Every `crate::` path of a module that names a module of its own layer
/// or above, described; `source` gives a module's text.
fn violations(lib: &str, source: impl Fn(&str) -> String) -> Vec<String> {
    let (modules, reexports) = layers(lib);
    let mut found = Vec::new();
    for (module, &layer) in &modules {
        for name in crate_paths(&source(module)) {
            let target = match (modules.get(&name), reexports.get(&name)) {
                (Some(_), _) => name.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => {
                    found.push(format!("{module} names crate::{name}, which is no module"));
                    continue;
                }
            };
            let target_layer = modules.get(&target).copied().unwrap_or(usize::MAX);
            if target != *module && target_layer >= layer {
                found.push(format!(
                    "{module} (layer {layer}) imports {target} (layer {target_layer})"
                ));
            }
        }
    }
    found
}

fn check_crate(src: &Path) {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let (modules, _) = layers(&lib);
    assert!(modules.len() > 3, "{}: {modules:?}", src.display());
    let found = violations(&lib, |m| {
        std::fs::read_to_string(src.join(format!("{m}.rs"))).unwrap()
    });
    assert!(
        found.is_empty(),
        "{}: modules that import their own layer or one above:\n{}",
        src.display(),
        found.join("\n")
    );
}

#[test]
fn the_root_package_imports_only_downwards() {
    check_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
}

#[test]
fn the_detector_crate_imports_only_downwards() {
    check_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/detector/src"));
}

#[test]
fn an_import_of_the_same_layer_or_above_is_found() {
    let lib = "pub mod error;\n\npub mod a;\npub mod b;\n\npub mod top;\n\npub use top::Run;\n";
    let files = |m: &str| {
        match m {
            "error" => "",
            "a" => "use crate::error::Result;\nuse crate::{b::X, error};\n",
            "b" => "// crate::top in a comment is no import\nfn f() { crate::Run::go() }\n",
            _ => "use crate::{a, b::{X, Y}};\n",
        }
        .to_string()
    };
    assert_eq!(
        violations(lib, files),
        vec![
            "a (layer 1) imports b (layer 1)".to_string(),
            "b (layer 1) imports top (layer 2)".to_string(),
        ]
    );
    assert_eq!(crate_paths("use crate::{a::{B, C}, d};"), ["a", "d"]);
}
