use super::*;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

fn stored(text: &str) -> Reading {
    let mut slot = None;
    Reading::store(&mut slot, &raw(text));
    slot.unwrap()
}

/// What `hb-send --health` sends is kept as numbers, and printed back as
/// the very bytes that came.
#[test]
fn hb_health_is_kept_in_place_and_printed_back_unchanged() {
    let sent = Health {
        cpu_pct: Some(12.3),
        mem_total: 8 << 30,
        mem_avail: 3 << 30,
        swap_used: 0,
        load1: 0.42,
        load5: 0.3,
        load15: 1.25,
        uptime_s: 86_400,
    };
    let text = serde_json::to_string(&sent).unwrap();
    let reading = stored(&text);
    assert!(matches!(reading, Reading::Known(_)), "{reading:?}");
    assert_eq!(serde_json::to_string(&reading).unwrap(), text);
    assert_eq!(
        reading.cpu_and_memory(),
        (Some(12.300000190734863), Some(3 << 30))
    );
    let without_cpu = Health {
        cpu_pct: None,
        ..sent
    };
    let text = serde_json::to_string(&without_cpu).unwrap();
    assert!(matches!(stored(&text), Reading::Known(_)));
}

/// Anything else (other fields, another order, spaces, not an object) is
/// kept exactly as sent.
#[test]
fn other_health_is_kept_as_sent() {
    for text in [
        r#"{"cpu_pct":5}"#,
        r#"{"mem_total":1,"cpu_pct":5.0,"mem_avail":1,"swap_used":0,"load1":0.0,"load5":0.0,"load15":0.0,"uptime_s":1}"#,
        r#"{"cpu_pct":5.0,"mem_total":1,"mem_avail":1,"swap_used":0,"load1":0.0,"load5":0.0,"load15":0.0,"uptime_s":1,"gpu":3}"#,
        r#"{ "cpu_pct": 5 }"#,
        r#"[1,2]"#,
    ] {
        let reading = stored(text);
        assert!(matches!(reading, Reading::Other(_)), "{text}");
        assert_eq!(serde_json::to_string(&reading).unwrap(), text);
    }
    assert_eq!(
        stored(r#"{"cpu_pct":5}"#).cpu_and_memory(),
        (Some(5.0), None)
    );
    assert_eq!(stored("[1,2]").cpu_and_memory(), (None, None));
}
