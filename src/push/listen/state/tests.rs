//! The state file keeps up with what was accepted: a taken message makes
//! it due once its seqs are 10 s old, never at once, and the last write carries every
//! sender's latest seq though no state changed; its temporary file is
//! created afresh, for the listener's user alone, never through a link.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::push::listen::tests::{listener, scratch_dir};

const WALL: u64 = 1_795_000_000_000;

fn at(now: Millis) -> Moment {
    Moment::new(now, WALL + now)
}

/// Hands `l` a beat of web-1 with `seq` at `now`, from the network.
fn beat(l: &mut Listener<Vec<u8>>, now: Millis, seq: u64) {
    let from: SocketAddr = "192.0.2.1:9".parse().unwrap();
    let datagram =
        format!(r#"{{"type":"beat","node":"web-1","boot":"b","seq":{seq},"every_ms":60000}}"#);
    let message = l.intake.open(datagram.as_bytes(), from, now).unwrap();
    l.accept(at(now), message, Some(from), None, datagram.len(), true)
        .unwrap();
}

fn seq_on_disk(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["nodes"]["web-1"]["seq"].clone()
}

/// web-1's `up` is written at once; its next 19 beats change no state
/// and the next period is an hour away: the write as the listener stops
/// carries seq 20 all the same.
#[test]
fn the_last_write_carries_every_latest_seq_though_no_state_changed() {
    let path = scratch_dir("last-write").join("state.json");
    let mut l = listener();
    l.keep_state_file(path.clone(), 3_600_000).unwrap();
    beat(&mut l, 0, 1);
    l.tick(at(0)).unwrap();
    for seq in 2..=20 {
        beat(&mut l, seq * 10, seq);
        l.tick(at(seq * 10)).unwrap();
    }
    l.finish_state(at(300));
    assert_eq!(seq_on_disk(&path), 20);
}

/// A beat alone makes the file due at the period's end, not before: one
/// write a period however many beats, and none while nothing is taken.
#[test]
fn taken_messages_make_the_file_due_after_seqs_every() {
    let path = scratch_dir("once-a-period").join("state.json");
    let mut l = listener();
    l.keep_state_file(path, 1000).unwrap();
    beat(&mut l, 0, 1);
    l.tick(at(0)).unwrap();
    let state = |l: &Listener<Vec<u8>>| l.state_file.as_ref().unwrap().next_wake(&l.detector);
    assert_eq!(state(&l), None, "nothing taken since the snapshot");
    for seq in 2..=50 {
        beat(&mut l, seq * 10, seq);
        l.tick(at(seq * 10)).unwrap();
        assert_eq!(state(&l), Some(SEQS_EVERY), "due once seqs are that old");
    }
    l.tick(at(SEQS_EVERY)).unwrap();
    let file = l.state_file.as_ref().unwrap();
    assert_eq!(
        (file.taken, file.next),
        (l.detector.taken(), SEQS_EVERY + 1000)
    );
    assert_eq!(state(&l), None);
    l.finish_state(at(SEQS_EVERY));
}

/// A link planted at the temporary file's name (a stale one of ours, or
/// another user's in a shared directory) is removed, never written
/// through: the file it names is untouched, and the new file is the
/// listener's user's alone.
#[test]
fn a_link_at_the_temporary_name_is_not_followed() {
    let dir = scratch_dir("tmp-link");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let tmp = dir.join("state.tmp.1");
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    let mut file = create_tmp(&tmp).unwrap();
    file.write_all(b"{}").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&tmp).unwrap();
    assert!(meta.is_file(), "{meta:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&tmp).unwrap(), "{}");
}
