//! The systemd units of contrib/systemd pass `systemd-analyze verify` once
//! installed as the README installs them: the binaries where `ExecStart=`
//! runs them, the man pages where `Documentation=man:` finds them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, skip, TempDir};

/// What [`assert_units_verify`] runs: systemd-analyze looks the units' man
/// pages up with man.
pub const VERIFY_TOOLS: [&str; 2] = ["systemd-analyze", "man"];

#[test]
fn the_units_verify_once_installed() {
    for tool in VERIFY_TOOLS {
        if Command::new(tool).arg("--version").output().is_err() {
            return skip!("{tool} is not installed");
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new();
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    for entry in std::fs::read_dir(root.join("man")).unwrap() {
        let page = entry.unwrap().path();
        std::fs::copy(&page, man1.join(page.file_name().unwrap())).unwrap();
    }
    // The binaries are where the build put them, not in /usr/bin.
    let bins = format!("{}/", bin("hb-listen").parent().unwrap().display());
    let mut units = Vec::new();
    for name in ["hb-listen", "hb-send", "hb-ack"] {
        let unit = std::fs::read_to_string(root.join(format!("contrib/systemd/{name}.service")))
            .unwrap()
            .replace("/usr/bin/", &bins);
        units.push(dir.file(&format!("{name}.service"), &unit));
    }
    assert_units_verify(&units, Some(&dir.path().join("man")));
}

/// `systemd-analyze verify` passes on `units` and says nothing: their
/// `ExecStart=` binaries exist and man finds their `Documentation=` pages,
/// in `manpath`, or where it looks by default (None: the package's test).
pub fn assert_units_verify(units: &[PathBuf], manpath: Option<&Path>) {
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify").args(units);
    match manpath {
        Some(manpath) => verify.env("MANPATH", manpath),
        None => verify.env_remove("MANPATH"),
    };
    let out = verify.output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
