//! The path every beat takes through hb-listen (intake: MAC, decode,
//! allow list; detector: replay check, lookup, deadline) allocates nothing
//! once its node is known: at fleet scale an allocation per datagram would
//! be the listener's main cost. Counted with a counting allocator, per
//! thread, so the test harness's other threads do not disturb the count.
//!
//! A test binary of its own, apart from the other integration tests
//! (`tests/it`): its counting allocator is the global allocator of the
//! whole binary, and would count (and slow) every allocation of every other
//! test there. It takes only the temporary directory from their harness.

#[path = "it/harness/temp_dir.rs"]
mod temp_dir;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};

use hb::auth::{Codec, Keys};
use hb::clock::Moment;
use hb::detector::{Arrival, Config, Detector, Rule, Trust};
use hb::intake::{Cidr, Intake};
use hb::wire::Message;

use temp_dir::TempDir;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const NODES: usize = 1000;

/// Round `seq` of beats from every node, signed with `codec`, each with
/// health as `hb-send --health` writes it.
fn round(codec: &Codec, seq: u64) -> Vec<Vec<u8>> {
    let health = r#"{"cpu_pct":12.5,"mem_total":8589934592,"mem_avail":4294967296,"swap_used":0,"load1":0.42,"load5":0.3,"load15":0.25,"uptime_s":86400}"#;
    (0..NODES)
        .map(|i| {
            let mut datagram = format!(
                r#"{{"type":"beat","node":"node-{i:04}.example.net","boot":"3f2a9c01d4e5b6a7","every_ms":1000,"seq":{seq},"ts_ms":{},"health":{health}}}"#,
                1_790_000_000_000 + seq * 1000
            )
            .into_bytes();
            codec.seal(&mut datagram).unwrap();
            datagram
        })
        .collect()
}

fn keyed_codec() -> Codec {
    let dir = TempDir::new();
    let key = dir.key_file("key", "a-key-long-enough-for-the-minimum-length\n", 0o600);
    Codec::new(Some(Keys::load(&key).unwrap()))
}

#[test]
fn a_beat_from_a_known_node_allocates_nothing() {
    for codec in [Codec::new(None), keyed_codec()] {
        let keyed = codec.is_keyed();
        let allow: Vec<Cidr> = vec!["127.0.0.0/8".parse().unwrap()];
        let mut intake = Intake::new(codec, allow, true);
        let config = Config {
            rule: Rule::Fixed { misses: 5 },
            default_every_ms: 1000,
            emit_beats: false,
            up_after: 1,
            flap: None,
            max_nodes: 10 * NODES,
        };
        let mut detector = Detector::new(config, 0);
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        // The listener's own address the beats were sent to.
        let to: Option<IpAddr> = "127.0.0.1".parse().ok();
        let trust = Trust::Network {
            max_skew_ms: Some(30_000),
        };
        let mut events = Vec::with_capacity(2 * NODES);
        let rounds: Vec<Vec<Vec<u8>>> = (1..=3).map(|seq| round(&intake.codec, seq)).collect();
        let mut counted = Vec::new();
        for (r, datagrams) in rounds.iter().enumerate() {
            let now = r as u64 * 1000;
            let wall = 1_790_000_000_000 + now;
            let before = allocations();
            for datagram in datagrams {
                let Some(message @ Message::Beat(_)) = intake.open(datagram, from, now) else {
                    panic!("refused: {:?}", intake.counters);
                };
                detector
                    .take(
                        &message,
                        Arrival::new(Moment::new(now, wall), Some(from), trust).to(to),
                        &mut events,
                    )
                    .unwrap();
                intake.accepted();
            }
            counted.push(allocations() - before);
            events.clear();
        }
        assert_eq!(intake.counters.received, 3 * NODES as u64);
        // Round 1 tracks the nodes (the table grows) and says each is up.
        assert!(counted[0] > 0, "{counted:?}");
        assert_eq!(
            counted[1..],
            [0, 0],
            "allocations per round (keyed: {keyed})"
        );
    }
}
