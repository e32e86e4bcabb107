use super::*;
use proptest::prelude::*;

fn beat(node: &str) -> Beat<'_> {
    Beat {
        node: node.into(),
        seq: None,
        boot: None,
        every_ms: None,
        ts_ms: None,
        health: None,
        ack: false,
        answers: false,
        checks: None,
        due: None,
    }
}

#[test]
fn minimal_hand_written_beat_decodes() {
    let m = decode(br#"{"type":"beat","node":"backup-job","every_ms":3600000}"#).unwrap();
    let Message::Beat(b) = m else { panic!() };
    assert_eq!(b.node, "backup-job");
    assert_eq!(b.every_ms, Some(3_600_000));
    assert_eq!(b.seq, None);
}

proptest! {
    /// A probe encoded from its head is byte for byte the one serde
    /// encodes, whatever the node's name and the nonce.
    #[test]
    fn a_probe_from_its_head_is_the_probe_encoded(node in "\\PC{1,60}|[\\x00-\\x7f]{1,60}", nonce: u64) {
        let probe = Message::Probe(Probe { node: node.as_str().into(), nonce, target: None });
        let (mut whole, mut from_head) = (Vec::new(), Vec::new());
        encode(&probe, &mut whole).unwrap();
        ProbeHead::new(&node).encode(nonce, &mut from_head).unwrap();
        prop_assert_eq!(whole, from_head);
    }
}

#[test]
fn a_probe_head_keeps_to_the_datagram_limit() {
    let node = "\u{1}".repeat(MAX_NODE_LEN);
    let probe = Message::Probe(Probe {
        node: node.as_str().into(),
        nonce: 1,
        target: None,
    });
    assert!(encode(&probe, &mut Vec::new()).is_err());
    assert!(ProbeHead::new(&node).encode(1, &mut Vec::new()).is_err());
}

#[test]
fn decoding_a_beat_borrows_its_strings() {
    let d = br#"{"type":"beat","node":"web-1","boot":"b1","seq":1}"#;
    let Message::Beat(b) = decode(d).unwrap() else {
        panic!()
    };
    assert!(matches!(b.node, Cow::Borrowed("web-1")));
    assert!(matches!(b.boot, Some(Cow::Borrowed("b1"))));
    let d = br#"{"type":"view","node":"o","seq":1,"up":["a","b\u0063"]}"#;
    let Message::View(v) = decode(d).unwrap() else {
        panic!()
    };
    assert!(matches!(v.up[0], Cow::Borrowed("a")));
    // Only a string with escapes needs its own copy.
    assert!(matches!(&v.up[1], Cow::Owned(s) if s == "bc"));
}

#[test]
fn boot_ids_are_short_tokens() {
    let with_boot = |boot: &str| {
        let d = format!(
            r#"{{"type":"beat","node":"a","boot":{}}}"#,
            serde_json::json!(boot)
        );
        decode(d.as_bytes()).map(|_| ())
    };
    assert_eq!(with_boot(&"b".repeat(MAX_BOOT_LEN)), Ok(()));
    for bad in ["", "a\nb", &"b".repeat(MAX_BOOT_LEN + 1)] {
        assert_eq!(with_boot(bad), Err(Reject::BadField), "{bad:?}");
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let m = decode(br#"{"type":"beat","node":"a","future":{"x":[1,2]},"seq":7}"#).unwrap();
    let Message::Beat(b) = m else { panic!() };
    assert_eq!(b.seq, Some(7));
}

#[test]
fn escaped_node_names_are_unescaped() {
    let Message::Beat(b) = decode(br#"{"type":"beat","node":"w\u00e9b-1"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(b.node, "wéb-1");
}

#[test]
fn rejects_have_reasons() {
    let cases: &[(&[u8], Reject)] = &[
        (b"", Reject::BadJson),
        (b"hello", Reject::BadJson),
        (b"42", Reject::BadJson),
        (b"[1]", Reject::BadJson),
        (br#"{"type":"beat","node":"a""#, Reject::BadJson),
        (b"{\"type\":\"beat\",\"node\":\"\xff\"}", Reject::BadJson),
        (br#"{"type":"beat","node":"a","seq":"x"}"#, Reject::BadField),
        (br#"{"type":"beat","node":"a","seq":-1}"#, Reject::BadField),
        (br#"{"type":7,"node":"a"}"#, Reject::BadField),
        (br#"{"node":"a"}"#, Reject::UnknownType),
        (br#"{"type":"gossip","node":"a"}"#, Reject::UnknownType),
        (br#"{"type":"view","node":"a"}"#, Reject::BadField),
        (
            br#"{"type":"view","node":"a","seq":1,"up":[""]}"#,
            Reject::BadField,
        ),
        (br#"{"type":"probe","node":"a"}"#, Reject::BadField),
        (
            br#"{"type":"reply","node":"a","nonce":"x"}"#,
            Reject::BadField,
        ),
        (br#"{"type":"ack","node":"a","seq":1}"#, Reject::BadField),
        (
            br#"{"type":"ack","node":"a","of":"","seq":1}"#,
            Reject::BadField,
        ),
        (br#"{"type":"beat"}"#, Reject::BadNode),
        (br#"{"type":"beat","node":""}"#, Reject::BadNode),
        (br#"{"type":"beat","node":"a\nb"}"#, Reject::BadNode),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(input).err(),
            Some(*want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let long = format!(r#"{{"type":"beat","node":"{}"}}"#, "x".repeat(254));
    assert_eq!(decode(long.as_bytes()).err(), Some(Reject::BadNode));
    assert_eq!(decode(&[b' '; 1401]).err(), Some(Reject::TooLarge));
}

/// `health` passes through verbatim (a raw JSON value) into one-line
/// outputs, so a raw line break in it refuses the message; escaped
/// line breaks, in health or in checks, never become raw ones.
#[test]
fn line_breaks_from_the_network_never_reach_outputs() {
    let refused: &[&[u8]] = &[
        b"{\"type\":\"beat\",\"node\":\"a\",\"health\":{\n\"cpu_pct\": 3}}",
        b"{\"type\":\"beat\",\"node\":\"a\",\"health\":{\"cpu_pct\":3\r}}",
        b"{\"type\":\"reply\",\"node\":\"a\",\"nonce\":1,\"health\":[1,\n2]}",
    ];
    for input in refused {
        assert_eq!(
            decode(input).err(),
            Some(Reject::BadField),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Line breaks elsewhere are JSON white space, not passed through.
    let pretty = b"{\"type\":\"beat\",\n\"node\":\"a\",\r\n\"health\":{\"cpu_pct\":3}}\n";
    let Message::Beat(b) = decode(pretty).unwrap() else {
        panic!()
    };
    assert_eq!(b.health.unwrap().get(), r#"{"cpu_pct":3}"#);

    let escaped = br#"{"type":"beat","node":"a","health":{"note":"one\ntwo\r"},"checks":[{"name":"disk\nroot","status":"warning","output":"80%\r\nsecond line"}]}"#;
    let msg = decode(escaped).unwrap();
    let Message::Beat(b) = &msg else { panic!() };
    assert_eq!(b.health.unwrap().get(), r#"{"note":"one\ntwo\r"}"#);
    let checks = b.checks.as_deref().unwrap();
    assert_eq!(checks[0].name, "disk root");
    assert_eq!(checks[0].output, "80%  second line");
    let mut buf = Vec::new();
    encode(&msg, &mut buf).unwrap();
    assert!(!buf.contains(&b'\n') && !buf.contains(&b'\r'), "{buf:?}");
}

/// `health` reaches every output as it came: what strict JSON readers
/// (jq, Python's json) refuse is refused here, as it is anywhere else in a
/// datagram; anything but an object is a wrong type.
#[test]
fn health_is_an_object_that_strict_readers_take() {
    let with_health = |health: &str| {
        let d = format!(r#"{{"type":"beat","node":"evil","health":{health}}}"#);
        decode(d.as_bytes()).map(|_| ())
    };
    for (health, want) in [
        (r#"{"x":"\ud800"}"#, Err(Reject::BadJson)),
        (r#"{"x":"\udc00"}"#, Err(Reject::BadJson)),
        (r#"{"x":"\ud800\u0041"}"#, Err(Reject::BadJson)),
        (r#"{"\ud800":1}"#, Err(Reject::BadJson)),
        (r#"{"x":[{"y":"a\udfff"}]}"#, Err(Reject::BadJson)),
        (r#"{"x":1e999}"#, Err(Reject::BadJson)),
        (r#"{"x":-1e400}"#, Err(Reject::BadJson)),
        (r#""a string""#, Err(Reject::BadField)),
        ("[1,2]", Err(Reject::BadField)),
        ("42", Err(Reject::BadField)),
        ("true", Err(Reject::BadField)),
        // null is an absent health, as for every optional field.
        ("null", Ok(())),
        (r#"{"x":"\ud83d\ude00"}"#, Ok(())),
        (r#"{"x":"\u0000\u202e"}"#, Ok(())),
        (r#"{"x":1e300,"y":-0.5,"z":18446744073709551616}"#, Ok(())),
        (r#"{"a":{"b":{"c":[[[]]]}}}"#, Ok(())),
    ] {
        assert_eq!(with_health(health), want, "{health}");
    }
    // Nesting as deep as serde reads (jq reads 256 levels, and the health
    // sits 3 deep in a status line).
    let nested = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    assert_eq!(with_health(&nested(127)), Ok(()));
    assert_eq!(with_health(&nested(128)), Err(Reject::BadJson));
    // The same for a reply's health, which hb-poll prints.
    let reply = br#"{"type":"reply","node":"r","nonce":1,"health":{"x":"\ud800"}}"#;
    assert_eq!(decode(reply).err(), Some(Reject::BadJson));
    let reply = br#"{"type":"reply","node":"r","nonce":1,"health":"up"}"#;
    assert_eq!(decode(reply).err(), Some(Reject::BadField));
    // serde's own strings already refuse a lone surrogate.
    let node = br#"{"type":"beat","node":"\ud800"}"#;
    assert_eq!(decode(node).err(), Some(Reject::BadJson));
}

#[test]
fn intervals_and_timestamps_have_ranges() {
    let with = |field: &str, value: u64| {
        let d = format!(r#"{{"type":"beat","node":"a","{field}":{value}}}"#);
        decode(d.as_bytes()).map(|_| ())
    };
    for (every, want) in [
        (0, Err(Reject::BadField)),
        (MIN_EVERY_MS - 1, Err(Reject::BadField)),
        (MIN_EVERY_MS, Ok(())),
        (MAX_EVERY_MS, Ok(())),
        (MAX_EVERY_MS + 1, Err(Reject::BadField)),
        (12_613_023_705_075_393_536, Err(Reject::BadField)),
    ] {
        assert_eq!(with("every_ms", every), want, "every_ms {every}");
    }
    let last = crate::output::MAX_WALL_MS;
    assert_eq!(with("ts_ms", last), Ok(()));
    assert_eq!(with("ts_ms", 253_402_300_800_000), Err(Reject::BadField));
}

/// Names that would print as another name, or as nothing, are refused.
#[test]
fn node_names_read_as_what_they_are() {
    for bad in [
        "web-1\u{202e}",
        "\u{202e}1-bew",
        "web\u{2066}-1\u{2069}",
        "web-1\u{200b}",
        "web\u{200d}-1",
        "\u{feff}web-1",
        "web\u{2060}1",
        "web\u{ad}1",
        "web\u{2028}1",
        " web-1",
        "web-1 ",
        "web-1\u{a0}",
        "\u{3000}web-1",
        "web\u{85}1",
        "web\u{7f}1",
    ] {
        assert_eq!(check_node(bad), Err(Reject::BadNode), "{bad:?}");
        let d = format!(r#"{{"type":"beat","node":{}}}"#, serde_json::json!(bad));
        assert_eq!(decode(d.as_bytes()).err(), Some(Reject::BadNode), "{bad:?}");
    }
    for good in [
        "web-1",
        "web 1",
        "día-1",
        "节点-1",
        "a",
        "web-1.example.com",
    ] {
        assert_eq!(check_node(good), Ok(()), "{good:?}");
    }
}

#[test]
fn encode_puts_type_first_and_skips_absent_fields() {
    let mut buf = Vec::new();
    encode(&Message::Beat(beat("web-1")), &mut buf).unwrap();
    assert_eq!(buf, br#"{"type":"beat","node":"web-1"}"#);
}

#[test]
fn encode_refuses_oversized() {
    let health = RawValue::from_string(format!("\"{}\"", "x".repeat(1400))).unwrap();
    let mut b = beat("a");
    b.health = Some(&health);
    let mut buf = Vec::new();
    assert!(encode(&Message::Beat(b), &mut buf).is_err());
}

#[test]
fn boot_ids_differ() {
    assert_ne!(new_boot_id(), new_boot_id());
    assert_eq!(new_boot_id().len(), 16);
}

proptest! {
    #[test]
    fn beat_round_trips(
        node in "[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\s][^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]{0,58}[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\s]",
        seq in proptest::option::of(any::<u64>()),
        boot in proptest::option::of("[0-9a-f]{16}"),
        every_ms in proptest::option::of(MIN_EVERY_MS..=MAX_EVERY_MS),
        ts_ms in proptest::option::of(0..=crate::output::MAX_WALL_MS),
        ack in any::<bool>(),
        answers in any::<bool>(),
    ) {
        let msg = Message::Beat(Beat {
            node: node.as_str().into(),
            seq,
            boot: boot.as_deref().map(Into::into),
            every_ms,
            ts_ms,
            health: None,
            ack,
            answers,
            checks: (seq.unwrap_or(0) % 2 == 0).then(|| vec![CheckResult {
                name: node.clone(),
                status: crate::checks::CheckStatus::Warning,
                output: "LOAD WARNING".into(),
            }]),
            due: None,
        });
        let mut buf = Vec::new();
        encode(&msg, &mut buf).unwrap();
        let mut again = Vec::new();
        encode(&decode(&buf).unwrap(), &mut again).unwrap();
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn probe_reply_ack_round_trip(
        node in "[a-z0-9.-]{1,40}",
        nonce in any::<u64>(),
        seq in 0..=crate::output::MAX_WALL_MS,
    ) {
        let health = RawValue::from_string(r#"{"cpu_pct":1.5}"#.into()).unwrap();
        for msg in [
            Message::Probe(Probe { node: node.as_str().into(), nonce, target: None }),
            Message::Probe(Probe {
                node: node.as_str().into(),
                nonce,
                target: Some("[::1]:26723".parse().unwrap()),
            }),
            Message::Reply(Reply {
                node: node.as_str().into(),
                nonce,
                boot: Some("b".into()),
                ts_ms: Some(seq),
                health: Some(Cow::Borrowed(&*health)),
                via: Some("relay-1".into()),
                checks: Some(vec![]),
            }),
            Message::Ack(Ack { node: "r".into(), of: node.as_str().into(), seq }),
        ] {
            let mut buf = Vec::new();
            encode(&msg, &mut buf).unwrap();
            let mut again = Vec::new();
            encode(&decode(&buf).unwrap(), &mut again).unwrap();
            prop_assert_eq!(again, buf);
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn leave_and_away_need_boot_and_seq() {
    let m = decode(br#"{"type":"leave","node":"web-1","boot":"b1","seq":9,"ts_ms":5}"#).unwrap();
    let Message::Leave(l) = m else { panic!() };
    assert_eq!(
        (l.node.as_ref(), l.boot.as_ref(), l.seq, l.ts_ms),
        ("web-1", "b1", 9, Some(5))
    );
    let d =
        br#"{"type":"away","node":"web-1","boot":"b1","seq":1,"for_ms":900000,"reason":"upgrade"}"#;
    let Message::Away(a) = decode(d).unwrap() else {
        panic!()
    };
    assert_eq!((a.for_ms, a.reason.as_deref()), (900_000, Some("upgrade")));
    for bad in [
        r#"{"type":"leave","node":"a","seq":1}"#,
        r#"{"type":"leave","node":"a","boot":"b"}"#,
        r#"{"type":"away","node":"a","seq":1,"for_ms":5000}"#,
        r#"{"type":"away","node":"a","boot":"b","for_ms":5000}"#,
        r#"{"type":"away","node":"a","boot":"b","seq":1}"#,
    ] {
        assert_eq!(
            decode(bad.as_bytes()).map(|_| ()),
            Err(Reject::BadField),
            "{bad}"
        );
    }
}

#[test]
fn an_away_is_bounded_and_its_reason_printable() {
    let away = |for_ms: u64, reason: Option<&str>| {
        let d = serde_json::json!({
            "type": "away", "node": "a", "boot": "b", "seq": 1,
            "for_ms": for_ms, "reason": reason,
        });
        decode(d.to_string().as_bytes()).map(|_| ())
    };
    assert_eq!(away(MIN_AWAY_MS, None), Ok(()));
    assert_eq!(away(MAX_AWAY_MS, Some("ticket OPS-12: kernel")), Ok(()));
    assert_eq!(away(MIN_AWAY_MS - 1, None), Err(Reject::BadField));
    assert_eq!(away(MAX_AWAY_MS + 1, None), Err(Reject::BadField));
    let long = "r".repeat(MAX_REASON_LEN + 1);
    for bad in [
        "",
        " upgrade",
        "a\nb",
        "up\u{200b}grade",
        "\u{202e}edargpu",
        &long,
    ] {
        assert_eq!(away(5000, Some(bad)), Err(Reject::BadField), "{bad:?}");
    }
    // A lone surrogate is refused as anywhere else in a datagram.
    let d = br#"{"type":"away","node":"a","boot":"b","seq":1,"for_ms":5000,"reason":"\ud800"}"#;
    assert_eq!(decode(d).map(|_| ()), Err(Reject::BadJson));
}

#[test]
fn leave_and_away_round_trip() {
    let mut buf = Vec::new();
    let leave = Message::Leave(Leave {
        node: "web-1".into(),
        seq: 4,
        boot: "b1".into(),
        ts_ms: Some(7),
    });
    encode(&leave, &mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf).unwrap(),
        r#"{"type":"leave","node":"web-1","seq":4,"boot":"b1","ts_ms":7}"#
    );
    let away = Message::Away(Away {
        node: "web-1".into(),
        seq: 1,
        boot: "b2".into(),
        ts_ms: None,
        for_ms: 60_000,
        reason: Some("upgrade".into()),
    });
    encode(&away, &mut buf).unwrap();
    let Message::Away(back) = decode(&buf).unwrap() else {
        panic!()
    };
    assert_eq!(
        (back.for_ms, back.reason.as_deref()),
        (60_000, Some("upgrade"))
    );
}

#[test]
fn a_jobs_start_and_done_round_trip() {
    let due = Some(Due {
        due_ms: 1_795_000_000_000,
        grace_ms: 3_600_000,
    });
    let start = Message::Start(Start {
        node: "backup".into(),
        seq: 1,
        boot: "b1".into(),
        ts_ms: Some(1_794_900_000_000),
        due,
        max_run_ms: Some(60_000),
    });
    let mut buf = Vec::new();
    encode(&start, &mut buf).unwrap();
    let text = std::str::from_utf8(&buf).unwrap();
    assert!(
        text.contains(r#""due_ms":1795000000000,"grace_ms":3600000"#),
        "{text}"
    );
    let Message::Start(s) = decode(&buf).unwrap() else {
        panic!("{text}")
    };
    assert_eq!((s.due, s.max_run_ms), (due, Some(60_000)));

    for ended in [Ended::Exit(3), Ended::Signal(9)] {
        let done = Message::Done(Done {
            node: "backup".into(),
            seq: 3,
            boot: "b1".into(),
            ts_ms: None,
            due: None,
            ended,
            duration_ms: 1234,
            stderr: Some("rsync: connection refused".into()),
        });
        encode(&done, &mut buf).unwrap();
        let Message::Done(d) = decode(&buf).unwrap() else {
            panic!()
        };
        assert_eq!(d.ended, ended);
        assert_eq!(d.duration_ms, 1234);
        assert_eq!(d.stderr.as_deref(), Some("rsync: connection refused"));
    }
}

#[test]
fn a_jobs_messages_are_refused_unless_whole_and_in_range() {
    let bad = [
        // start and done need boot and seq, as a leave does.
        r#"{"type":"start","node":"j","seq":1}"#,
        r#"{"type":"done","node":"j","boot":"b","exit":0,"duration_ms":1}"#,
        // exactly one of exit and signal; both in a byte; signal not 0
        r#"{"type":"done","node":"j","boot":"b","seq":1,"duration_ms":1}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":0,"signal":9,"duration_ms":1}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":256,"duration_ms":1}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"signal":0,"duration_ms":1}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":-1,"duration_ms":1}"#,
        // a duration is needed, and bounded
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":0}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":0,"duration_ms":99999999999999}"#,
        // stderr: one printable line, bounded
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":1,"duration_ms":1,"stderr":"a\nb"}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":1,"duration_ms":1,"stderr":" x"}"#,
        r#"{"type":"done","node":"j","boot":"b","seq":1,"exit":1,"duration_ms":1,"stderr":"\u200bx"}"#,
        // a deadline that prints, a grace that needs one, limits in range
        r#"{"type":"beat","node":"j","due_ms":253402300800000}"#,
        r#"{"type":"beat","node":"j","grace_ms":1000}"#,
        r#"{"type":"beat","node":"j","due_ms":1,"grace_ms":99999999999999}"#,
        r#"{"type":"start","node":"j","boot":"b","seq":1,"max_run_ms":1}"#,
        r#"{"type":"start","node":"j","boot":"b","seq":1,"due_ms":"soon"}"#,
    ];
    for text in bad {
        assert_eq!(
            decode(text.as_bytes()).unwrap_err(),
            Reject::BadField,
            "{text}"
        );
    }
    let long = "x".repeat(MAX_STDERR_LEN + 1);
    let text = format!(
        r#"{{"type":"done","node":"j","boot":"b","seq":1,"exit":1,"duration_ms":1,"stderr":"{long}"}}"#
    );
    assert_eq!(decode(text.as_bytes()).unwrap_err(), Reject::BadField);
    let Message::Beat(b) = decode(br#"{"type":"beat","node":"j","due_ms":5}"#).unwrap() else {
        panic!()
    };
    assert_eq!(
        b.due,
        Some(Due {
            due_ms: 5,
            grace_ms: 0
        })
    );
}
