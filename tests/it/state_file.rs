//! The `--state` file at fleet scale: writes coalesced to one per
//! `--state-every`, never torn, never in the receive loop's way, a disk
//! error reported once and retried, and the final membership written when
//! the listener stops.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{beat, send_raw, wait_for, Running, TempDir, PATIENCE};

/// The state file parsed, or None while it does not exist yet.
fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a torn or broken state file ({e}): {text:?}"));
    Some(v)
}

/// Waits until the state file satisfies `pred`; every read of it on the
/// way must parse.
#[track_caller]
fn wait_for_state(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("the state file to show {what}"), PATIENCE, || {
        read(path).filter(&pred)
    })
}

/// 300 new nodes, one every 5 ms, make 300 membership changes in 1.5 s:
/// the file is rewritten about once per --state-every (each rewrite is a
/// rename, so a new inode), every read of it parses, and the last node is
/// on disk in the end.
#[test]
fn learning_a_fleet_costs_a_few_writes_none_of_them_torn() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let (_l, addr) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "300ms"]);
    wait_for_state(&state, "the first, empty membership", |v| {
        v["type"] == "status"
    });

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (state, done) = (state.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut inodes = BTreeSet::new();
            while !done.load(Ordering::Relaxed) {
                if let Ok(meta) = std::fs::metadata(&state) {
                    inodes.insert(meta.ino());
                }
                read(&state);
                std::thread::sleep(Duration::from_millis(1));
            }
            inodes.len()
        })
    };
    let started = Instant::now();
    for i in 0..300 {
        send_raw(
            addr,
            &beat(&format!("node-{i:06}.example.internal"), "b", 1, 60_000),
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let last = "node-000299.example.internal";
    let v = wait_for_state(&state, "the last node", |v| v["nodes"].get(last).is_some());
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let writes = watcher.join().unwrap();
    assert_eq!(v["up"].as_array().unwrap().len(), 300, "{v}");
    // One write per 300 ms of learning, give or take the first and the last.
    let most = (elapsed.as_millis() / 300) as usize + 3;
    assert!(
        (2..=most).contains(&writes),
        "{writes} writes in {elapsed:?}: not coalesced to one per 300 ms"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "state.json")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A state file that cannot be written (its directory is missing) is
/// reported once, never stops the listener, and is written as soon as it
/// can be.
#[test]
fn a_write_error_is_reported_once_and_retried() {
    let dir = TempDir::new();
    let missing = dir.path().join("not-yet");
    let state = missing.join("state.json");
    let (mut l, addr) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "50ms"]);
    let warning = l.stderr_address("warning: writing ");
    assert!(warning.contains("retrying"), "{warning}");
    for seq in 1..=3 {
        send_raw(addr, &beat("web-1", "b", seq, 60_000));
    }
    l.expect("up", |v| v["node"] == "web-1");
    std::fs::create_dir(&missing).unwrap();
    wait_for_state(&state, "web-1 once the directory exists", |v| {
        v["up"] == serde_json::json!(["web-1"])
    });
    l.stderr_address("written again");
    l.signal_and_wait("TERM");
    let lines = l.stderr_rest();
    assert!(
        lines.iter().all(|line| !line.contains("warning: writing")),
        "reported more than once: {lines:?}"
    );
    let leftovers = std::fs::read_dir(&missing).unwrap().count();
    assert_eq!(leftovers, 1, "only state.json in {}", missing.display());
}

/// Changes not yet written when the listener stops are written as it
/// stops: the file holds the final membership.
#[test]
fn the_final_membership_is_written_at_stop() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let (mut l, addr) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "1h"]);
    wait_for_state(&state, "the first, empty membership", |v| {
        v["type"] == "status"
    });
    send_raw(addr, &beat("late-1", "b", 1, 60_000));
    l.expect("up", |v| v["node"] == "late-1");
    assert!(l.signal_and_wait("TERM").success());
    let v = read(&state).unwrap();
    assert_eq!(v["up"], serde_json::json!(["late-1"]), "{v}");
}

/// A small tmpfs mounted for one test, unmounted when it ends.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// A tmpfs of `size` (mount(8) syntax) at `dir`, or None where this
    /// test may not mount one (not root, no tmpfs).
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir(dir).unwrap();
        let options = format!("size={size}");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk(dir.to_owned()))
    }

    fn resize(&self, size: &str) {
        let options = format!("remount,size={size}");
        let status = std::process::Command::new("mount")
            .args(["-o", &options])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remounting {}", self.0.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// On a full disk (a 64 KiB tmpfs, and a membership of about 100 KiB) the
/// state file's write fails: reported once, the listener goes on judging,
/// no temporary file stays behind, and the file is written once there is
/// room again.
#[test]
fn a_full_disk_is_reported_once_and_leaves_nothing_behind() {
    let dir = TempDir::new();
    let Some(disk) = SmallDisk::mount(&dir.path().join("small"), "64k") else {
        crate::harness::skip!("cannot mount a tmpfs (needs root)");
        return;
    };
    let state = disk.0.join("state.json");
    let (mut l, addr) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "50ms"]);
    wait_for_state(&state, "the first, empty membership", |v| {
        v["type"] == "status"
    });
    let nodes = 400;
    for i in 0..nodes {
        send_raw(
            addr,
            &beat(&format!("node-{i:06}.example.internal"), "b", 1, 60_000),
        );
    }
    let warning = l.stderr_address("warning: writing ");
    assert!(warning.contains("No space left"), "{warning}");
    // The detector goes on: a node that comes now is still judged.
    send_raw(addr, &beat("after-the-error", "b", 1, 60_000));
    l.expect("up", |v| v["node"] == "after-the-error");
    let leftovers = |disk: &SmallDisk| -> Vec<_> {
        std::fs::read_dir(&disk.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "state.json")
            .collect()
    };
    // A failed write removes its temporary file before the next one.
    wait_for("the failed writes' temporary files to go", PATIENCE, || {
        leftovers(&disk).is_empty().then_some(())
    });
    disk.resize("1m");
    let v = wait_for_state(&state, "every node once there is room", |v| {
        v["up"].as_array().is_some_and(|up| up.len() == nodes + 1)
    });
    assert_eq!(v["type"], "status");
    l.stderr_address("written again");
    assert!(l.signal_and_wait("TERM").success());
    let lines = l.stderr_rest();
    assert!(
        lines.iter().all(|line| !line.contains("warning: writing")),
        "reported more than once: {lines:?}"
    );
    assert!(leftovers(&disk).is_empty(), "{:?}", leftovers(&disk));
}

/// A restart forgets nothing: the nodes of the state file are tracked
/// again. One that beats on stays up without a new `up`; one that never
/// beats again is `down` after its deadline, counted from the restart.
#[test]
fn a_restart_forgets_nothing() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let path = state.to_str().unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--state",
        path,
        "--state-every",
        "50ms",
        "--misses",
        "3",
    ];
    let mut first = Running::spawn("hb-listen", &args);
    let addr = first.listening();
    for node in ["stays", "dies"] {
        send_raw(addr, &beat(node, "b", 1, 300));
        first.expect("up", |v| v["node"] == node);
    }
    wait_for_state(&state, "both nodes", |v| {
        v["up"].as_array().is_some_and(|up| up.len() == 2)
    });
    assert!(first.signal_and_wait("TERM").success());

    let mut second = Running::spawn("hb-listen", &args);
    let said = second.stderr_address("state.json: ");
    assert_eq!(said, "2 nodes tracked again");
    let addr = second.listening();
    let restarted = crate::harness::wall_ms();
    let beating = {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let beats = std::thread::spawn(move || {
            let mut seq = 2;
            while !flag.load(Ordering::Relaxed) {
                send_raw(addr, &beat("stays", "b", seq, 300));
                seq += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        (stop, beats)
    };
    let down = second.expect("down", |v| v["node"] == "dies");
    let after = down["ts_ms"].as_u64().unwrap() + 20 - restarted;
    assert!(after >= 900, "down {after} ms after the restart: {down}");
    beating.0.store(true, Ordering::Relaxed);
    beating.1.join().unwrap();
    assert!(
        second.seen_of("up", "stays").is_empty(),
        "a node up before the restart and beating on is no new `up`:\n{}",
        second.history()
    );
}

/// A state file that is not one is reported and set aside, never fatal:
/// the listener starts afresh, and what was there stays for a look.
#[test]
fn a_corrupt_state_file_is_set_aside() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"nodes\": [1, 2").unwrap();
    let l = Running::spawn(
        "hb-listen",
        &[
            "--listen",
            "127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
            "--state-every",
            "50ms",
        ],
    );
    let warning = l.stderr_address("warning: ");
    assert!(warning.contains("is not a state file"), "{warning}");
    assert!(warning.contains("set aside as"), "{warning}");
    l.listening();
    wait_for_state(&state, "a fresh membership", |v| v["type"] == "status");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.corrupt."))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = std::fs::read_to_string(dir.path().join(&aside[0])).unwrap();
    assert_eq!(kept, "{\"nodes\": [1, 2");
}
