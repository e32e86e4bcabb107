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
        (
            Some(12.300000190734863),
            Some(3 << 30),
            Some(sent.mem_total)
        )
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
        (Some(5.0), None, None)
    );
    assert_eq!(stored("[1,2]").cpu_and_memory(), (None, None, None));
}

/// The reading of hb's layout agrees with parsing generically and writing
/// the value back, on hb's own health and on texts near it.
mod against_serde {
    use proptest::prelude::*;

    use super::*;

    /// serde's reading, if writing it back gives the same bytes. `exact`
    /// must agree whenever this finds hb's layout; it may find it where
    /// this does not, as serde reads some floats a unit off, and then the
    /// value it found must write back as the text.
    fn oracle(text: &str) -> Option<Health> {
        let health: Health = serde_json::from_str(text).ok()?;
        (serde_json::to_string(&health).ok()? == text).then_some(health)
    }

    fn health() -> impl Strategy<Value = Health> {
        (
            proptest::option::of(any::<f32>()),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            (any::<f64>(), any::<f64>(), -1e6f64..1e6),
            any::<u64>(),
        )
            .prop_map(
                |(cpu_pct, mem_total, mem_avail, swap_used, (l1, l5, l15), uptime_s)| Health {
                    cpu_pct,
                    mem_total,
                    mem_avail,
                    swap_used,
                    load1: l1,
                    load5: l5,
                    load15: l15,
                    uptime_s,
                },
            )
    }

    proptest! {
        #[test]
        fn hb_health_reads_back_as_it_was(h in health()) {
            let text = serde_json::to_string(&h).unwrap();
            let raw = RawValue::from_string(text.clone()).unwrap();
            let finite = h.cpu_pct.is_none_or(f32::is_finite)
                && [h.load1, h.load5, h.load15].iter().all(|l| l.is_finite());
            prop_assert_eq!(exact(&raw), finite.then_some(h), "{}", text);
        }

        /// One byte changed, dropped or added anywhere.
        #[test]
        fn texts_near_it_read_as_serde_reads_them(
            h in health(),
            at in any::<prop::sample::Index>(),
            edit in 0u8..3,
            byte in prop::sample::select(b"0123456789.-+eE,:}{ \"a".to_vec()),
        ) {
            let mut text = serde_json::to_string(&h).unwrap().into_bytes();
            let i = at.index(text.len());
            match edit {
                0 => text[i] = byte,
                1 => { text.remove(i); }
                _ => text.insert(i, byte),
            }
            let Ok(text) = String::from_utf8(text) else { return Ok(()) };
            let Ok(raw) = RawValue::from_string(text.clone()) else { return Ok(()) };
            let read = exact(&raw);
            if let Some(h) = oracle(&text) {
                prop_assert_eq!(read.clone(), Some(h), "{}", text);
            }
            if let Some(h) = read {
                // As stored: JSON around a value (a space before it) is not the value.
                prop_assert_eq!(serde_json::to_string(&h).unwrap(), raw.get());
            }
        }
    }

    #[test]
    fn numbers_not_as_hb_writes_them_are_not_its_layout() {
        let hb = r#"{"cpu_pct":5.5,"mem_total":1,"mem_avail":1,"swap_used":0,"load1":0.5,"load5":0.0,"load15":1.0,"uptime_s":1}"#;
        assert!(exact(&raw(hb)).is_some());
        for (from, to) in [
            ("\"swap_used\":0", "\"swap_used\":-0"),
            ("\"load1\":0.5", "\"load1\":0.50"),
            ("\"load5\":0.0", "\"load5\":0"),
            ("\"load15\":1.0", "\"load15\":1e0"),
            ("\"cpu_pct\":5.5", "\"cpu_pct\":5.50000001"),
            ("\"uptime_s\":1", "\"uptime_s\":18446744073709551616"),
        ] {
            let text = hb.replace(from, to);
            assert_eq!(exact(&raw(&text)), None, "{text}");
            assert_eq!(oracle(&text), None, "{text}");
        }
    }
}

/// Space before the object, as a sender may write it: kept as the value
/// the raw JSON holds, read as hb's own object.
#[test]
fn space_before_the_object_is_not_part_of_it() {
    let text = r#" {"mem_total":0,"mem_avail":0,"swap_used":0,"load1":0.0,"load5":0.0,"load15":0.0,"uptime_s":0}"#;
    let raw = RawValue::from_string(text.to_owned()).unwrap();
    if let Some(h) = exact(&raw) {
        assert_eq!(serde_json::to_string(&h).unwrap(), raw.get());
    }
}
