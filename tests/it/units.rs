//! The systemd units of contrib/systemd pass `systemd-analyze verify` once
//! installed as the README installs them: the binaries where `ExecStart=`
//! runs them, the man pages where `Documentation=man:` finds them.

use std::path::Path;
use std::process::Command;

use crate::harness::{bin, skip, TempDir};

#[test]
fn the_units_verify_once_installed() {
    // systemd-analyze looks the units' man pages up with man.
    for tool in ["systemd-analyze", "man"] {
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
    // The binaries are where the build put them, not in /usr/local/bin.
    let bins = format!("{}/", bin("hb-listen").parent().unwrap().display());
    let mut units = Vec::new();
    for name in ["hb-listen", "hb-send", "hb-ack"] {
        let unit = std::fs::read_to_string(root.join(format!("contrib/systemd/{name}.service")))
            .unwrap()
            .replace("/usr/local/bin/", &bins);
        units.push(dir.file(&format!("{name}.service"), &unit));
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("MANPATH", dir.path().join("man"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
