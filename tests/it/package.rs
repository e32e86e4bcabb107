//! The Debian package that `cargo deb` builds installs as an operator
//! installs a daemon: the tools on the system's PATH, their man pages and
//! completions where man and the shells look, the units verified and
//! enabled by nobody, no lintian error; and `dpkg --purge` leaves nothing
//! of it behind. It builds the release binaries and installs them for the
//! whole machine, as root, so it runs only when HB_PACKAGE_TEST is set: CI
//! sets it in a step of its own, where the minutes of the release build
//! take no CPU from the tests that measure time.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{skip, TempDir};
use crate::units::{assert_units_verify, VERIFY_TOOLS};

/// cargo-deb names the package after the crate.
const PACKAGE: &str = "hb";
const TOOLS: [&str; 4] = ["hb-send", "hb-listen", "hb-ack", "hb-poll"];
const UNITS: [&str; 3] = ["hb-listen", "hb-send", "hb-ack"];

#[test]
fn the_package_installs_works_and_purges_to_nothing() {
    if std::env::var_os("HB_PACKAGE_TEST").is_none() {
        // Asked for, not missing: no tool is lacking, so this is no skip
        // that HB_REQUIRE_TOOLS would fail.
        eprintln!(
            "NOT RUN {}: HB_PACKAGE_TEST is not set (it builds a release and installs it as root)",
            crate::harness::test_name!()
        );
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return skip!("dpkg -i needs root");
    }
    for tool in VERIFY_TOOLS.iter().chain(&["dpkg", "lintian", "bash"]) {
        if Command::new(tool).arg("--version").output().is_err() {
            return skip!("{tool} is not installed");
        }
    }
    let cargo_deb = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output();
    if !cargo_deb.is_ok_and(|out| out.status.success()) {
        return skip!("cargo-deb is not installed (cargo install cargo-deb --locked)");
    }
    if let Some(status) = status() {
        return skip!(
            "{PACKAGE} is {status} on this machine: this test would replace it, then purge it"
        );
    }
    let expected = expected_files();
    // A hand-made install (README.md's, without the package): dpkg would
    // overwrite it, and the purge remove it.
    if let Some(path) = expected
        .iter()
        .map(String::as_str)
        .chain(["/etc/hb"])
        .find(|path| Path::new(path).exists())
    {
        return skip!(
            "{path} is there already: installing {PACKAGE}, then purging it, would remove it"
        );
    }
    // Links and state that the package must neither add nor leave.
    let systemd_dirs = [Path::new("/etc/systemd"), Path::new("/var/lib/systemd")];
    let systemd_before = systemd_dirs.map(named_hb);

    let out = TempDir::new();
    let deb = build(out.path());
    lint(&deb);
    let installed = Installed::new(&deb);
    let files = ok(Command::new("dpkg").args(["-L", PACKAGE]));
    let files: BTreeSet<PathBuf> = files.lines().map(PathBuf::from).collect();

    // Each file where its user looks for it.
    for path in &expected {
        assert!(
            files.contains(Path::new(path)) && Path::new(path).is_file(),
            "{path} is not installed by {PACKAGE}"
        );
    }
    let hook = std::fs::metadata("/usr/share/hb/hooks/alertmanager").unwrap();
    assert_eq!(hook.permissions().mode() & 0o777, 0o755, "the hook runs");

    // What it installs under /etc is the operator's to edit: conffiles,
    // which an upgrade keeps and a purge removes.
    let conffiles = ok(Command::new("dpkg-query").args(["-W", "-f", "${Conffiles}", PACKAGE]));
    let conffiles: BTreeSet<PathBuf> = conffiles
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(PathBuf::from)
        .collect();
    let under_etc: BTreeSet<PathBuf> = files
        .iter()
        .filter(|path| path.starts_with("/etc") && path.is_file())
        .cloned()
        .collect();
    assert_eq!(conffiles, under_etc);
    // The postinst's /etc/hb, which the units' users enter to read the
    // files their options name.
    let etc_hb = std::fs::metadata("/etc/hb").expect("the postinst makes /etc/hb");
    assert!(etc_hb.is_dir());
    assert_eq!(etc_hb.permissions().mode() & 0o7777, 0o755);

    // The changelog's latest entry is this version of the package.
    let version = ok(Command::new("dpkg-query").args(["-W", "-f", "${Version}", PACKAGE]));
    assert!(version.starts_with(&format!("{}-", env!("CARGO_PKG_VERSION"))));
    let changelog = ok(Command::new("zcat").arg("/usr/share/doc/hb/changelog.Debian.gz"));
    assert!(
        changelog.starts_with(&format!("{PACKAGE} ({version}) ")),
        "contrib/debian/changelog's first entry is not {version}: {}",
        changelog.lines().next().unwrap_or_default()
    );

    // The tools and their man pages, found as cron and systemd find them:
    // with the system's PATH and nothing of the caller's environment.
    for tool in TOOLS {
        let said = ok(system(tool).arg("--version"));
        assert_eq!(said, format!("{tool} {}\n", env!("CARGO_PKG_VERSION")));
        let page = ok(system("man").args(["-w", tool]));
        assert_eq!(page.trim_end(), format!("/usr/share/man/man1/{tool}.1.gz"));
    }

    // The units as installed: their binaries and man pages found, and
    // enabled by nobody (no link to them in /etc/systemd/system).
    let units = UNITS.map(|unit| PathBuf::from(format!("/usr/lib/systemd/system/{unit}.service")));
    assert_units_verify(&units, None);
    let enabled = named_hb(systemd_dirs[0]);
    assert_eq!(enabled, systemd_before[0], "the package enabled a unit");

    // bash completes a flag from the installed completion, through the
    // function it registers for the tool.
    let script = r#"
        . /usr/share/bash-completion/completions/hb-listen
        spec=$(complete -p hb-listen) || exit 1
        fn=${spec#*-F }; fn=${fn%% *}
        COMP_WORDS=(hb-listen --exp); COMP_CWORD=1
        COMP_LINE='hb-listen --exp'; COMP_POINT=${#COMP_LINE}
        "$fn" hb-listen --exp hb-listen
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let words = ok(system("bash").args(["--norc", "--noprofile", "-c", script]));
    let words: BTreeSet<&str> = words.lines().collect();
    assert_eq!(words, BTreeSet::from(["--expect", "--expect-file"]));

    // Purged, nothing of it is left: no file it listed, no directory only
    // it had, no /etc/hb, no unit state of deb-systemd-helper's.
    installed.purge();
    assert_eq!(status(), None, "dpkg still knows {PACKAGE} after --purge");
    let left: Vec<&PathBuf> = files.iter().filter(|path| left_behind(path)).collect();
    assert!(left.is_empty(), "dpkg --purge left {left:?}");
    assert!(!Path::new("/etc/hb").exists(), "dpkg --purge left /etc/hb");
    assert_eq!(systemd_dirs.map(named_hb), systemd_before);
}

/// Each file the package installs where its user looks for it.
fn expected_files() -> Vec<String> {
    let mut expected = vec![
        "/usr/share/hb/hooks/alertmanager".to_owned(),
        "/usr/share/hb/hooks/haproxy".to_owned(),
        "/usr/share/doc/hb/copyright".to_owned(),
        "/usr/share/doc/hb/changelog.Debian.gz".to_owned(),
        "/usr/share/doc/hb/README.md".to_owned(),
        "/usr/share/doc/hb/docs/security.md".to_owned(),
        "/usr/share/doc/hb/examples/README".to_owned(),
        "/usr/share/doc/hb/examples/fleet.txt".to_owned(),
    ];
    for tool in TOOLS {
        expected.extend([
            format!("/usr/bin/{tool}"),
            format!("/usr/share/man/man1/{tool}.1.gz"),
            format!("/usr/share/bash-completion/completions/{tool}"),
            format!("/usr/share/zsh/vendor-completions/_{tool}"),
            format!("/usr/share/fish/vendor_completions.d/{tool}.fish"),
        ]);
    }
    for unit in UNITS {
        expected.extend([
            format!("/usr/lib/systemd/system/{unit}.service"),
            format!("/etc/default/{unit}"),
        ]);
    }
    expected
}

/// The package's state in dpkg's database (`installed`, `config-files`,
/// ...), None when dpkg does not know it.
fn status() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}", PACKAGE])
        .output()
        .unwrap();
    let status = String::from_utf8(out.stdout).unwrap();
    (out.status.success() && status != "not-installed").then_some(status)
}

/// Builds the package into `out` and returns its path. The release build
/// goes where this checkout's builds go (CARGO_TARGET_DIR or target/), so
/// a later build reuses it. --fast: a lighter compression of the same
/// files, 20 seconds sooner.
fn build(out: &Path) -> PathBuf {
    let mut stderr = std::io::stderr();
    let _ = writeln!(stderr, "package: cargo deb (a release build: minutes)");
    ok(Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["deb", "--locked", "--fast", "--output"])
        .arg(out));
    // Beside it, the debug symbols' hb-dbgsym_*.ddeb.
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "cargo deb made {debs:?}");
    debs.into_iter().next().unwrap()
}

/// lintian finds no error in the package. Its warnings are printed past
/// the test harness's capture, for a person to read.
fn lint(deb: &Path) {
    let out = Command::new("lintian").arg(deb).output().unwrap();
    let tags = String::from_utf8_lossy(&out.stdout);
    let _ = writeln!(std::io::stderr(), "package: lintian:\n{tags}");
    assert!(
        out.status.success() && !tags.lines().any(|line| line.starts_with("E: ")),
        "lintian found errors:\n{tags}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The package installed. A test that fails before it purges it purges it
/// on the way out: no failure leaves it on the machine.
struct Installed {
    purged: bool,
}

impl Installed {
    fn new(deb: &Path) -> Installed {
        // Made first, so that a half-done install is purged too.
        let installed = Installed { purged: false };
        ok(Command::new("dpkg").arg("-i").arg(deb));
        installed
    }

    fn purge(mut self) {
        ok(Command::new("dpkg").args(["--purge", PACKAGE]));
        self.purged = true;
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.purged {
            let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        }
    }
}

/// Runs `cmd`, which must succeed, and returns its stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `program`, looked up and run as cron and systemd run it: with the
/// system's PATH and nothing else of this process's environment.
fn system(program: &str) -> Command {
    let mut cmd = Command::new("env");
    cmd.args(["-i", "PATH=/usr/bin:/bin", program]);
    cmd
}

/// Everything under `dir` (not following links) named `hb-*`: a unit's
/// link or its state.
fn named_hb(dir: &Path) -> BTreeSet<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    let mut found = BTreeSet::new();
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with("hb-") {
            found.insert(path.clone());
        }
        if entry.file_type().unwrap().is_dir() {
            found.extend(named_hb(&path));
        }
    }
    found
}

/// Whether `path`, which the package listed, is still there when it should
/// not be: a file is; a directory is only when empty and no other
/// package's (dpkg rightly keeps the others).
fn left_behind(path: &Path) -> bool {
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if !meta.is_dir() {
        return true;
    }
    let empty = std::fs::read_dir(path).unwrap().next().is_none();
    empty
        && !Command::new("dpkg-query")
            .arg("-S")
            .arg(path)
            .output()
            .unwrap()
            .status
            .success()
}
