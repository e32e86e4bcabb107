use super::*;
use crate::wire::decode;

#[test]
fn large_views_split_into_datagrams_that_decode() {
    let names: Vec<String> = (0..500)
        .map(|i| format!("node-{i:04}.example.com"))
        .collect();
    let states = [
        ViewState::Up,
        ViewState::Suspect,
        ViewState::Down,
        ViewState::Left,
        ViewState::Away,
    ];
    let parts = encode_views(
        "obs-1",
        "boot",
        7,
        123,
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), states[i % states.len()])),
    );
    assert!(parts.len() > 5, "{} parts", parts.len());
    let mut seen = 0;
    for (i, part) in parts.iter().enumerate() {
        assert!(part.len() + 80 <= MAX_DATAGRAM, "room for a MAC");
        let Message::View(v) = decode(part).unwrap() else {
            panic!()
        };
        assert_eq!((v.node.as_ref(), v.seq), ("obs-1", 7 + i as u64));
        assert_eq!((v.boot.as_deref(), v.ts_ms), (Some("boot"), Some(123)));
        seen += v.up.len() + v.suspect.len() + v.down.len() + v.left.len() + v.away.len();
        assert!(v.left.iter().chain(&v.away).all(|n| {
            let i: usize = n[5..9].parse().unwrap();
            i % states.len() >= 3
        }));
    }
    assert_eq!(seen, 500);
    let one = encode_views("o", "b", 1, 0, []);
    assert_eq!(
        one.len(),
        1,
        "an empty view is still sent: it says the observer lives"
    );
}
