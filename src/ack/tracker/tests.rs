use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tracker(misses: u32) -> Tracker {
    Tracker::new(
        Config {
            misses,
            timeout: ms(100),
        },
        2,
    )
}

/// Sends beat `seq` at `t` to both targets after expiring what is due.
fn beat(tr: &mut Tracker, seq: u64, t: u64, out: &mut Vec<Observation>) {
    tr.expire(ms(t), out);
    tr.sent(0, seq, ms(t));
    tr.sent(1, seq, ms(t));
}

#[test]
fn acked_beats_bring_the_path_up_once() {
    let mut tr = tracker(3);
    let mut out = vec![];
    beat(&mut tr, 1, 0, &mut out);
    tr.acked(0, 1, ms(2), &mut out);
    beat(&mut tr, 2, 100, &mut out);
    tr.acked(0, 2, ms(101), &mut out);
    assert_eq!(
        out,
        vec![
            Observation::Ack {
                target: 0,
                seq: 1,
                rtt: ms(2),
                late: false
            },
            Observation::Up {
                target: 0,
                rtt: ms(2),
                down_for: None
            },
            Observation::Ack {
                target: 0,
                seq: 2,
                rtt: ms(1),
                late: false
            },
        ]
    );
}

#[test]
fn down_after_n_missed_in_a_row_then_up_with_down_time() {
    let mut tr = tracker(3);
    let mut out = vec![];
    beat(&mut tr, 1, 0, &mut out);
    tr.acked(0, 1, ms(1), &mut out);
    for seq in 2..=5 {
        beat(&mut tr, seq, (seq - 1) * 100, &mut out);
    }
    tr.expire(ms(450), &mut out);
    let downs: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Observation::Down { target: 0, .. }))
        .collect();
    // Beats 2, 3, 4 were sent at 100, 200, 300: the third misses at 400.
    assert_eq!(
        downs,
        vec![&Observation::Down {
            target: 0,
            missed: 3,
            silent: ms(399)
        }]
    );
    out.clear();
    beat(&mut tr, 6, 500, &mut out);
    tr.acked(0, 6, ms(510), &mut out);
    assert_eq!(
        out[1..],
        [Observation::Up {
            target: 0,
            rtt: ms(10),
            down_for: Some(ms(110))
        }]
    );
    assert_eq!(tr.missed(0), 4);
}

#[test]
fn a_late_ack_proves_life_and_is_marked_late() {
    let mut tr = tracker(2);
    let mut out = vec![];
    beat(&mut tr, 1, 0, &mut out);
    beat(&mut tr, 2, 100, &mut out);
    beat(&mut tr, 3, 200, &mut out);
    tr.expire(ms(201), &mut out);
    assert!(matches!(
        out[..],
        [
            Observation::Down {
                target: 0,
                missed: 2,
                ..
            },
            Observation::Down { target: 1, .. }
        ]
    ));
    out.clear();
    tr.acked(0, 1, ms(250), &mut out);
    assert_eq!(
        out,
        vec![
            Observation::Ack {
                target: 0,
                seq: 1,
                rtt: ms(250),
                late: true
            },
            Observation::Up {
                target: 0,
                rtt: ms(250),
                down_for: Some(ms(50))
            },
        ]
    );
}

#[test]
fn duplicate_and_unknown_acks_are_ignored() {
    let mut tr = tracker(2);
    let mut out = vec![];
    beat(&mut tr, 1, 0, &mut out);
    tr.acked(1, 1, ms(5), &mut out);
    let n = out.len();
    tr.acked(1, 1, ms(6), &mut out);
    tr.acked(1, 99, ms(6), &mut out);
    tr.acked(7, 1, ms(6), &mut out);
    assert_eq!(out.len(), n);
}

#[test]
fn settled_once_every_beat_is_acked_or_timed_out() {
    let mut tr = tracker(2);
    let mut out = vec![];
    beat(&mut tr, 1, 0, &mut out);
    assert_eq!(tr.next_deadline(), Some(ms(100)));
    tr.acked(0, 1, ms(1), &mut out);
    assert!(!tr.settled(), "target 1 still awaited");
    tr.expire(ms(100), &mut out);
    assert!(tr.settled());
    assert_eq!((tr.missed(0), tr.missed(1)), (0, 1));
}

#[test]
fn beats_older_than_an_ack_do_not_count_toward_down() {
    let mut tr = Tracker::new(
        Config {
            misses: 2,
            timeout: ms(500),
        },
        1,
    );
    let mut out = vec![];
    for seq in 1..=3 {
        tr.sent(0, seq, ms(seq * 100));
    }
    tr.acked(0, 3, ms(310), &mut out);
    // Beats 1 and 2 time out after beat 3 was acked: no down.
    tr.expire(ms(1000), &mut out);
    assert!(
        !out.iter().any(|o| matches!(o, Observation::Down { .. })),
        "{out:?}"
    );
    assert_eq!(tr.missed(0), 2, "still not acknowledged in time");
}

#[test]
fn memory_per_target_is_bounded() {
    let mut tr = tracker(1_000_000);
    let mut out = vec![];
    for seq in 0..10_000 {
        beat(&mut tr, seq, seq, &mut out);
    }
    assert!(tr.targets.iter().all(|t| t.awaited.len() <= REMEMBERED));
}
