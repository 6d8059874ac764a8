//! The seams of ARCHITECTURE.md, kept by CI: which workspace crate may depend on which (every
//! dependency kind, from `cargo metadata`), and that the mock's users name none of its modules —
//! scenarios, the console and these tests reach the mock only through `ekm-lab`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace crates each crate must not depend on, in any section of its manifest.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "ekm-clock",
        &["ekm-vocab", "ekm-engine", "ekm-mock-kms", "ekm-lab"],
    ),
    (
        "ekm-vocab",
        &["ekm-clock", "ekm-engine", "ekm-mock-kms", "ekm-lab"],
    ),
    ("ekm-access", &["ekm-engine", "ekm-mock-kms", "ekm-lab"]),
    ("ekm-engine", &["ekm-mock-kms", "ekm-lab"]),
    ("ekm-mock-kms", &["ekm-engine", "ekm-lab"]),
    ("ekm-scenarios", &["ekm-mock-kms"]),
    ("ekm-console", &["ekm-mock-kms"]),
    ("ekm-tests", &["ekm-mock-kms"]),
];

/// The crates that use the mock only through the lab, by folder.
const LAB_USERS: &[&str] = &["scenarios", "console", "tests"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// Every workspace crate with the names of all its dependencies (normal, dev and build).
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let names = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|dependency| dependency["name"].as_str().expect("name").to_owned())
                .collect();
            (package["name"].as_str().expect("name").to_owned(), names)
        })
        .collect()
}

#[test]
fn no_crate_depends_on_what_its_seam_forbids() {
    let dependencies = dependencies();
    for (krate, forbidden) in FORBIDDEN {
        let names = dependencies
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for name in *forbidden {
            assert!(
                !names.iter().any(|n| n == name),
                "{krate} depends on {name}: {names:?}"
            );
        }
    }
}

#[test]
fn the_mocks_users_name_none_of_its_modules() {
    let mut files = 0;
    for krate in LAB_USERS {
        let mut pending = vec![workspace().join(krate)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("a source folder") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    assert!(
                        !text.contains(&["ekm_mock_kms", "::"].concat()),
                        "{} names the mock's modules: use ekm-lab's API",
                        path.display()
                    );
                    files += 1;
                }
            }
        }
    }
    assert!(files > 50, "only {files} source files found");
}
