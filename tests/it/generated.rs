//! The committed man pages and shell completions match what the binaries
//! generate from their flag definitions, so they never drift.

use std::path::Path;

use crate::harness::cmd;

#[test]
fn man_pages_and_completions_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("src/bin")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(bin) = name.strip_suffix(".rs") else {
            continue;
        };
        for (kind, file) in [
            ("man", format!("man/{bin}.1")),
            ("bash", format!("completions/{bin}.bash")),
            ("zsh", format!("completions/_{bin}")),
            ("fish", format!("completions/{bin}.fish")),
        ] {
            let out = cmd(bin)
                .args(["--generate", kind])
                .assert()
                .success()
                .get_output()
                .stdout
                .clone();
            let committed = std::fs::read(root.join(&file)).unwrap_or_default();
            assert!(
                committed == out,
                "{file} is stale or missing: run scripts/generate-docs and commit the result"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "expected man pages and completions for every binary"
    );
}

#[test]
fn generate_refuses_unknown_kinds() {
    cmd("hb-send")
        .args(["--generate", "powershell"])
        .assert()
        .code(2);
}

/// The man pages pass mandoc's checker without a warning (its style notes,
/// long lines among them, are left to taste).
#[test]
fn man_pages_pass_mandoc_lint() {
    // mandoc has no --version: asked for one, it answers as for a bad flag.
    let found = std::process::Command::new("mandoc")
        .arg("-V")
        .output()
        .is_ok();
    if !found {
        return crate::harness::skip!("mandoc is not installed");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("man")).unwrap() {
        let page = entry.unwrap().path();
        let out = std::process::Command::new("mandoc")
            .args(["-Tlint", "-W", "warning"])
            .arg(&page)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.trim().is_empty() && out.stdout.is_empty(),
            "{}: {said}",
            page.display()
        );
    }
}
