use super::*;
use crate::auth::tests::signing_codec;
use crate::auth::Codec;
use crate::checks::{CheckResult, CheckStatus};
use crate::output::{Output, Sink};
use crate::text::CUT_MARK;
use proptest::prelude::*;
use serde_json::value::RawValue;

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Only bounds a hang: every read below expects a datagram.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// hb-ack, named `relay`, driven by hand (`handle`).
fn responder(codec: Codec) -> Responder<Vec<u8>> {
    responder_named(codec, "relay")
}

/// hb-ack, named `node`, driven by hand.
fn responder_named(codec: Codec, node: &str) -> Responder<Vec<u8>> {
    let opts = Options {
        verbosity: Verbosity::Quiet,
        health: None,
        checks: None,
        max_skew_ms: 30_000,
        max_nodes: 100,
        status_every: None,
        reload: None,
    };
    let intake = Intake::new(codec, Vec::new(), false);
    Responder::new(
        socket(),
        node.into(),
        Sink::new(Output::new(Vec::new())),
        intake,
        opts,
    )
}

fn amplification(r: &Responder<Vec<u8>>) -> u64 {
    let rejected = &r.intake.counters.rejected;
    rejected.get("amplification").copied().unwrap_or(0)
}

/// The next datagram `s` gets.
fn next(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0; wire::MAX_DATAGRAM];
    let (len, _) = s.recv_from(&mut buf).unwrap();
    buf[..len].to_vec()
}

/// A relay request ("probe `target` for me"), padded by hand to `len`.
fn relay_request(target: SocketAddr, len: usize) -> Vec<u8> {
    let mut d =
        format!(r#"{{"type":"probe","node":"poller","nonce":7,"target":"{target}"}}"#).into_bytes();
    let brace = d.pop().unwrap();
    d.resize(len - 1, b' ');
    d.push(brace);
    d
}

/// The relayed probe (REQUEST_LEN bytes) is never sent for a smaller
/// request: a relay request must be padded like any request.
#[test]
fn a_relay_request_smaller_than_a_padded_request_is_refused() {
    let (target, poller) = (socket(), socket());
    let poller = poller.local_addr().unwrap();
    let mut r = responder(Codec::default());
    let short = relay_request(target.local_addr().unwrap(), REQUEST_LEN - 1);
    r.handle(&short, poller, 0).unwrap();
    assert_eq!(amplification(&r), 1);
    assert!(r.relayed.is_empty(), "nothing relayed");

    let padded = relay_request(target.local_addr().unwrap(), REQUEST_LEN);
    r.handle(&padded, poller, 0).unwrap();
    assert_eq!(amplification(&r), 1);
    assert_eq!(r.relayed.len(), 1);
    let relayed = next(&target);
    assert!(relayed.len() <= padded.len(), "{} bytes", relayed.len());
    let Ok(Message::Probe(p)) = wire::decode(&relayed) else {
        panic!("{:?}", String::from_utf8_lossy(&relayed))
    };
    assert!(r.relayed.contains_key(&p.nonce));
}

/// A relay whose name is long, and escaped on the wire, would relay a
/// probe larger than a padded request (found by the `responder` fuzz
/// target): it relays nothing and counts the request as `amplification`.
#[test]
fn a_relayed_probe_is_never_larger_than_the_relay_request() {
    let (target, poller) = (socket(), socket());
    let quotes = "\"".repeat(wire::MAX_NODE_LEN);
    let mut r = responder_named(Codec::default(), &quotes);
    let request = relay_request(target.local_addr().unwrap(), REQUEST_LEN);
    r.handle(&request, poller.local_addr().unwrap(), 0).unwrap();
    assert_eq!(amplification(&r), 1);
    assert!(r.relayed.is_empty(), "nothing awaited");
    // Loopback delivers within send_to: a relayed probe would be queued.
    target.set_nonblocking(true).unwrap();
    let nothing = target.recv(&mut [0; wire::MAX_DATAGRAM]);
    assert!(
        nothing.is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock),
        "nothing relayed"
    );
}

/// A reply from the node called `node` with `pad` bytes of health
/// padding and a plugin check, encoded with `codec`.
fn reply(codec: &Codec, nonce: u64, pad: usize, node: &str, via: Option<&str>) -> Vec<u8> {
    let health = RawValue::from_string(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad))).unwrap();
    let reply = Reply {
        node: node.into(),
        nonce,
        boot: Some("b".into()),
        ts_ms: None,
        health: Some(Cow::Borrowed(&*health)),
        via: via.map(Into::into),
        checks: Some(vec![CheckResult {
            name: "disk".into(),
            status: CheckStatus::Ok,
            output: "DISK OK".into(),
        }]),
    };
    let mut buf = Vec::new();
    codec.encode(&Message::Reply(reply), &mut buf).unwrap();
    buf
}

/// `msg` encoded with `codec` as a request: REQUEST_LEN bytes,
/// signature included.
fn padded(codec: &Codec, msg: &Message<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    codec.encode_request(msg, &mut buf).unwrap();
    assert_eq!(buf.len(), REQUEST_LEN);
    buf
}

/// The target's reply goes back to the poller only within the size of
/// the poller's request: as is when it fits (to the byte), cut when not,
/// not at all when even its name is too large. Signed
/// too: a replayed signed request must not be amplified either.
#[test]
fn a_forwarded_reply_is_never_larger_than_the_relay_request() {
    for codec in [Codec::default(), signing_codec()] {
        let (target, poller) = (socket(), socket());
        let mut r = responder(codec.clone());
        // The forwarded reply: the target's, with the poller's nonce
        // and the relay's name.
        let forwarded = |nonce, pad, node| reply(&codec, nonce, pad, node, Some("relay"));
        let fit = REQUEST_LEN - forwarded(1, 0, "target").len();
        // A name of quotes, each escaped on the wire: too large even
        // without health and checks.
        let quotes = "\"".repeat(wire::MAX_NODE_LEN);
        // (poller's nonce, health padding, target's name, forwarded whole)
        for (nonce, pad, node, whole) in [
            (1, fit, "target", true),
            (2, fit + 1, "target", false),
            (3, 0, quotes.as_str(), false),
        ] {
            assert_eq!(forwarded(nonce, pad, node).len() <= REQUEST_LEN, whole);
            let probe = Message::Probe(Probe {
                node: "poller".into(),
                nonce,
                target: Some(target.local_addr().unwrap()),
            });
            let request = padded(&codec, &probe);
            r.handle(&request, poller.local_addr().unwrap(), 0).unwrap();
            let relayed = next(&target);
            let Ok(Message::Probe(relayed)) = codec.decode(&relayed) else {
                panic!()
            };
            let answer = reply(&codec, relayed.nonce, pad, node, None);
            r.handle(&answer, target.local_addr().unwrap(), 0).unwrap();
            if nonce == 3 {
                assert_eq!(amplification(&r), 1, "too large even without health");
                continue;
            }
            assert_eq!(amplification(&r), 0, "nonce {nonce} forwarded");
            let got = next(&poller);
            assert!(got.len() <= REQUEST_LEN, "{} bytes forwarded", got.len());
            let Ok(Message::Reply(got)) = codec.decode(&got) else {
                panic!("{:?}", String::from_utf8_lossy(&got))
            };
            assert_eq!((got.nonce, got.via.as_deref()), (nonce, Some("relay")));
            // One byte too many: the check's output is cut, the health
            // and the status stay.
            assert!(got.health.is_some(), "nonce {nonce}");
            let checks = got.checks.unwrap();
            assert_eq!(checks[0].status, CheckStatus::Ok);
            assert_eq!(checks[0].output == "DISK OK", whole, "nonce {nonce}");
            assert_eq!(checks[0].output.ends_with(CUT_MARK), !whole);
        }
        assert!(r.relayed.is_empty());
    }
}

fn any_status() -> impl Strategy<Value = CheckStatus> {
    prop_oneof![
        Just(CheckStatus::Ok),
        Just(CheckStatus::Unknown),
        Just(CheckStatus::Warning),
        Just(CheckStatus::Critical),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever checks hb-ack runs, signed or not, its reply to a padded
    /// probe fits the probe and keeps the worst status.
    #[test]
    fn a_reply_fits_its_probe_and_keeps_the_worst_status(
        checks in proptest::collection::vec(
            ("[a-z0-9_.-]{1,40}", any_status(), "(.|\"|\\\\){0,200}"), 0..12),
        signed: bool,
    ) {
        let checks: Vec<CheckResult> = checks
            .into_iter()
            .map(|(name, status, output)| CheckResult {
                name,
                status,
                output: crate::text::cut(&output, crate::checks::MAX_OUTPUT),
            })
            .collect();
        let codec = if signed { signing_codec() } else { Codec::default() };
        let poller = socket();
        let mut r = responder_named(codec.clone(), "web-1");
        let health = RawValue::from_string(
            r#"{"cpu_pct":3.5,"mem_total":25325268992,"mem_avail":24829882368,"swap_used":0,"load1":0.55,"load5":0.52,"load15":0.25,"uptime_s":541}"#.into(),
        ).unwrap();
        let reply = Reply {
            node: "web-1".into(),
            nonce: 9,
            boot: Some("c8fb5b9ed8380bd3".into()),
            ts_ms: Some(1_795_702_867_561),
            health: Some(Cow::Borrowed(&*health)),
            via: None,
            checks: Some(checks.clone()),
        };
        let to = poller.local_addr().unwrap();
        send_reply(&mut r.intake, &mut r.datagram, reply, to, REQUEST_LEN, 0);
        r.intake.send_answers(&r.socket);
        prop_assert_eq!(amplification(&r), 0);
        let got = next(&poller);
        prop_assert!(got.len() <= REQUEST_LEN);
        let Ok(Message::Reply(got)) = codec.decode(&got) else {
            panic!("{:?}", String::from_utf8_lossy(&got))
        };
        let kept = got.checks.unwrap();
        prop_assert_eq!(crate::checks::worst(&kept), crate::checks::worst(&checks));
    }
}
