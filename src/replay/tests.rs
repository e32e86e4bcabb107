use super::*;

const NOW: u64 = 1_000_000;

fn keyed() -> Freshness {
    Freshness {
        now_wall_ms: NOW,
        max_skew_ms: Some(30_000),
    }
}

fn claim(boot: Option<&str>, seq: Option<u64>, ts_ms: Option<u64>) -> Claim<'_> {
    Claim { boot, seq, ts_ms }
}

fn seen(boot: &str, seq: u64) -> LastSeen {
    LastSeen {
        boot: Some(boot.into()),
        seq: Some(seq),
    }
}

#[test]
fn within_a_boot_seq_must_grow() {
    let known = seen("b1", 5);
    let admits = |seq| LastSeen::admits(Some(&known), &claim(Some("b1"), Some(seq), None), keyed());
    assert_eq!(admits(6), Ok(()));
    assert_eq!(admits(5), Err(Reject::Replay));
    assert_eq!(admits(2), Err(Reject::Replay));
}

#[test]
fn a_new_boot_must_be_recent_with_a_key_and_anything_goes_without() {
    let known = seen("b1", 5);
    let recent = claim(Some("b2"), Some(1), Some(NOW - 1000));
    let old = claim(Some("b2"), Some(1), Some(NOW - 60_000));
    assert_eq!(LastSeen::admits(Some(&known), &recent, keyed()), Ok(()));
    assert_eq!(
        LastSeen::admits(Some(&known), &old, keyed()),
        Err(Reject::Skew)
    );
    let undated = claim(Some("b2"), Some(1), None);
    assert_eq!(LastSeen::admits(None, &undated, keyed()), Err(Reject::Skew));
    let open = Freshness {
        now_wall_ms: NOW,
        max_skew_ms: None,
    };
    assert_eq!(
        LastSeen::admits(None, &claim(None, None, None), open),
        Ok(())
    );
}

#[test]
fn remembering_restarts_seq_with_a_boot_and_never_moves_it_back() {
    let mut last = LastSeen::default();
    last.remember(&claim(Some("b1"), Some(7), None));
    assert_eq!(last, seen("b1", 7));
    last.remember(&claim(Some("b1"), Some(3), None));
    assert_eq!(last, seen("b1", 7), "an older beat of a recording");
    last.remember(&claim(None, Some(9), None));
    assert_eq!(last, seen("b1", 9), "a beat without boot keeps the boot");
    last.remember(&claim(Some("b2"), None, None));
    assert_eq!(
        last,
        LastSeen {
            boot: Some("b2".into()),
            seq: None
        }
    );
}

#[test]
fn senders_are_bounded_and_remember_what_they_admit() {
    let open = Freshness {
        now_wall_ms: NOW,
        max_skew_ms: None,
    };
    let mut senders = Senders::new(2);
    let beat = |seq| claim(Some("b"), Some(seq), None);
    assert_eq!(senders.admit("a", &beat(1), open), Ok(()));
    assert_eq!(senders.admit("a", &beat(1), open), Err(Reject::Replay));
    assert_eq!(senders.admit("b", &beat(1), open), Ok(()));
    assert_eq!(
        senders.admit("c", &beat(1), open),
        Err(Reject::TooManyNodes)
    );
    assert_eq!(
        senders.admit("a", &beat(2), open),
        Ok(()),
        "known ones still"
    );
}
