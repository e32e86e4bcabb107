use proptest::prelude::*;
use serde_json::value::RawValue;

use super::super::{check_health, encode, read, Reject};
use super::*;

/// A reply as hb-ack sends one, health and all.
const SENT: &str = r#"{"type":"reply","node":"node-000123.example.internal","nonce":16045690984833335023,"boot":"53a390a22027770f","ts_ms":1796644893253,"health":{"cpu_pct":0.0,"mem_total":25276194816,"mem_avail":24664076288,"swap_used":0,"load1":0.23,"load5":0.8,"load15":1.1,"uptime_s":41839}}"#;

/// What the general reader makes of `text`, written out to compare.
fn general(text: &str) -> Result<String, Reject> {
    read(text).map(|m| format!("{m:?}"))
}

/// The one-pass reading of `text` agrees with the general reader's, or
/// declines.
fn agrees(text: &str) -> Result<Option<String>, TestCaseError> {
    let Some(fast) = reply(text).map(|m| format!("{m:?}")) else {
        return Ok(None);
    };
    prop_assert_eq!(Ok(fast.clone()), general(text), "{}", text);
    Ok(Some(fast))
}

#[test]
fn a_reply_as_hb_ack_sends_it_is_read_in_one_pass() {
    let read = agrees(SENT).unwrap().expect("read in one pass");
    assert!(read.contains("node-000123.example.internal"));
    let signed = format!(
        r#"{},"mac":"{}"}}"#,
        &SENT[..SENT.len() - 1],
        "ab".repeat(32)
    );
    agrees(&signed).unwrap().expect("signed, read in one pass");
    let bare = r#"{"type":"reply","node":"n","nonce":0}"#;
    agrees(bare).unwrap().expect("read in one pass");
}

#[test]
fn any_other_form_is_left_to_the_general_reader() {
    let others = [
        // White space, escapes, fields in another order or unknown.
        r#"{ "type":"reply","node":"n","nonce":1}"#,
        r#"{"type":"reply","node":"n","nonce":1} "#,
        r#"{"type":"reply","node":"n\u0041","nonce":1}"#,
        r#"{"type":"reply","nonce":1,"node":"n"}"#,
        r#"{"type":"reply","node":"n","nonce":1,"extra":2}"#,
        // Relayed, with checks, or health not flat and plain.
        r#"{"type":"reply","node":"n","nonce":1,"via":"r"}"#,
        r#"{"type":"reply","node":"n","nonce":1,"checks":[]}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":{"b":1}}}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":"text"}}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":1e3}}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":1}"#,
        // Numbers JSON does not write so, or too large.
        r#"{"type":"reply","node":"n","nonce":01}"#,
        r#"{"type":"reply","node":"n","nonce":1.0}"#,
        r#"{"type":"reply","node":"n","nonce":18446744073709551616}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":01}}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":1.}}"#,
        r#"{"type":"reply","node":"n","nonce":1,"health":{"a":-}}"#,
        // What the general reader refuses.
        r#"{"type":"reply","node":" n","nonce":1}"#,
        r#"{"type":"reply","node":"","nonce":1}"#,
        "{\"type\":\"reply\",\"node\":\"n\",\"nonce\":1,\"boot\":\"b\u{7f}\"}",
        r#"{"type":"reply","node":"n","nonce":1,"boot":""}"#,
        r#"{"type":"reply","node":"n","nonce":1,"ts_ms":253402300800000}"#,
        r#"{"type":"reply","node":"n"}"#,
        r#"{"type":"reply","node":"n","nonce":1}}"#,
    ];
    for text in others {
        assert!(reply(text).is_none(), "{text}");
    }
}

/// Names as replies carry them: fleet host names, and some that the
/// general reader unescapes or refuses.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "node-[0-9]{6}\\.example\\.internal",
        "[a-zA-Z0-9 ._\u{e9}\u{7f}\u{200b}-]{0,12}",
        "[\"\\\\/\u{1}a]{0,4}",
    ]
}

/// Whether a string is written without escapes.
fn plain(s: &str) -> bool {
    !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// A health object's text, and whether it is flat and plain: names
/// without escapes, each with a number without an exponent, as senders
/// write them; or what the one-pass reading leaves alone.
fn health() -> impl Strategy<Value = (String, bool)> {
    let plain_number = |n: String| {
        let is_plain = !n.contains(['e', 'E', 'n']) && n.len() <= MAX_PLAIN_NUMBER;
        (n, is_plain)
    };
    let number = prop_oneof![
        any::<u64>()
            .prop_map(|n| n.to_string())
            .prop_map(plain_number),
        any::<f64>()
            .prop_map(|x| serde_json::to_string(&x).unwrap())
            .prop_map(plain_number),
        "-?(0|[1-9][0-9]{0,45})(\\.[0-9]{1,3})?([eE][+-]?[0-9])?".prop_map(plain_number),
        Just(("\"up\"".to_owned(), false)),
        Just(("[1,2]".to_owned(), false)),
        Just(("{\"x\":1}".to_owned(), false)),
    ];
    proptest::collection::vec((name(), number), 0..6).prop_map(|fields| {
        let is_plain = fields.iter().all(|(k, (_, p))| plain(k) && *p);
        let fields: Vec<String> = fields
            .iter()
            .map(|(k, (v, _))| format!("{}:{v}", serde_json::to_string(k).unwrap()))
            .collect();
        (format!("{{{}}}", fields.join(",")), is_plain)
    })
}

proptest! {
    /// Every reply hb-ack can send is read as the general reader reads it,
    /// and in one pass when it has no escapes, relay or checks and its
    /// health is flat and plain.
    #[test]
    fn replies_are_read_as_the_general_reader_reads_them(
        node in name(),
        nonce in any::<u64>(),
        boot in proptest::option::of(name()),
        ts_ms in proptest::option::of(0..=crate::output::MAX_WALL_MS + 1),
        health in proptest::option::of(health()),
        signed in any::<bool>(),
    ) {
        let flat = health.as_ref().is_none_or(|(_, is_plain)| *is_plain);
        let health = health.and_then(|(h, _)| RawValue::from_string(h).ok());
        let msg = Message::Reply(Reply {
            node: node.as_str().into(),
            nonce,
            boot: boot.as_deref().map(Into::into),
            ts_ms,
            health: health.as_deref().map(Cow::Borrowed),
            via: None,
            checks: None,
        });
        let mut buf = Vec::new();
        encode(&msg, &mut buf).unwrap();
        if signed {
            buf.pop();
            buf.extend_from_slice(format!(r#","mac":"{}"}}"#, "0f".repeat(32)).as_bytes());
        }
        let text = std::str::from_utf8(&buf).unwrap();
        let fast = agrees(text)?;
        let escaped = !plain(&node) || boot.as_deref().is_some_and(|b| !plain(b));
        if general(text).is_ok() && flat && !escaped {
            prop_assert!(fast.is_some(), "not read in one pass: {}", text);
        }
        if let Some(health) = health.as_deref().filter(|_| fast.is_some()) {
            // What the one pass takes, the strict reading of health takes.
            prop_assert!(check_health(health).is_ok());
        }
    }

    /// Whatever follows the way a reply begins, the one-pass reading never
    /// panics and never reads what the general reader reads otherwise.
    #[test]
    fn any_text_after_a_reply_head_is_read_alike_or_declined(
        tail in "[a-z0-9\",:{}.\\-\\\\ ]{0,80}",
    ) {
        agrees(&format!("{HEAD}{tail}"))?;
        agrees(&format!("{HEAD}n\",\"nonce\":1,\"health\":{{{tail}"))?;
    }
}
