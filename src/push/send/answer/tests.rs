use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::Answerer;
use crate::auth::tests::signing_codec;
use crate::auth::Codec;
use crate::wire::{Message, Probe};

/// A sender's socket and a listener's, both on 127.0.0.1.
fn sockets() -> (UdpSocket, UdpSocket) {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    (sender, listener)
}

fn probe(codec: &Codec, nonce: u64, target: Option<SocketAddr>, padded: bool) -> Vec<u8> {
    let msg = Message::Probe(Probe {
        node: "listener".into(),
        nonce,
        target,
    });
    let mut buf = Vec::new();
    match padded {
        true => codec.encode_request(&msg, &mut buf).unwrap(),
        false => codec.encode(&msg, &mut buf).unwrap(),
    }
    buf
}

/// What the listener got back, if anything.
fn answered(listener: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    listener.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn a_probe_from_a_target_is_answered_with_its_nonce_and_boot() {
    let (sender, listener) = sockets();
    let targets = [listener.local_addr().unwrap()];
    for codec in [Codec::default(), signing_codec()] {
        let answerer = Answerer {
            node: "web-1",
            boot: "b1",
            codec: &codec,
            targets: &targets,
        };
        let asked = probe(&codec, 42, None, true);
        assert!(answerer.answer(&sender, &asked, targets[0], &mut Vec::new()));
        let got = answered(&listener).expect("an answer");
        assert!(got.len() <= asked.len());
        let Ok(Message::Reply(reply)) = codec.decode(&got) else {
            panic!("{}", String::from_utf8_lossy(&got))
        };
        assert_eq!((&*reply.node, reply.nonce), ("web-1", 42));
        assert_eq!(reply.boot.as_deref(), Some("b1"));
    }
}

#[test]
fn no_answer_to_strangers_unsigned_probes_relays_or_small_probes() {
    let (sender, listener) = sockets();
    let me = listener.local_addr().unwrap();
    let codec = signing_codec();
    let answerer = |targets: &'static [SocketAddr]| Answerer {
        node: "a-node-with-a-rather-long-name-so-that-its-reply-is-larger",
        boot: "0123456789abcdef",
        codec: &codec,
        targets,
    };
    let stranger: SocketAddr = "192.0.2.1:26722".parse().unwrap();
    let strangers: &'static [SocketAddr] = Box::leak(Box::new([stranger]));
    let mine: &'static [SocketAddr] = Box::leak(Box::new([me]));
    // From a host this sender does not beat to.
    assert!(answerer(strangers).answer(
        &sender,
        &probe(&codec, 1, None, true),
        me,
        &mut Vec::new()
    ));
    // Unsigned, to a keyed sender: not even a probe to it.
    let plain = probe(&Codec::default(), 2, None, true);
    assert!(!answerer(mine).answer(&sender, &plain, me, &mut Vec::new()));
    // A relay request is hb-ack's.
    assert!(answerer(mine).answer(
        &sender,
        &probe(&codec, 3, Some(stranger), true),
        me,
        &mut Vec::new()
    ));
    // A probe smaller than the reply would be.
    assert!(answerer(mine).answer(&sender, &probe(&codec, 4, None, false), me, &mut Vec::new()));
    assert_eq!(answered(&listener), None);
}
