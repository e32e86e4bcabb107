use super::*;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Sample {
    Up { node: String },
    Empty {},
}

fn emit_to_string<E: Serialize>(ms: u64, e: &E) -> io::Result<String> {
    let mut out = Output::new(Vec::new());
    out.emit(ms, e)?;
    Ok(String::from_utf8(out.out).unwrap())
}

#[test]
fn type_then_timestamps_then_fields() {
    let line = emit_to_string(
        1_764_166_364_123,
        &Sample::Up {
            node: "web-1".into(),
        },
    )
    .unwrap();
    assert_eq!(
        line,
        "{\"type\":\"up\",\"ts\":\"2025-11-26T14:12:44.123Z\",\"ts_ms\":1764166364123,\"node\":\"web-1\"}\n"
    );
}

#[test]
fn event_without_fields() {
    let line = emit_to_string(0, &Sample::Empty {}).unwrap();
    assert_eq!(
        line,
        "{\"type\":\"empty\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"ts_ms\":0}\n"
    );
}

#[test]
fn refuses_untyped_objects() {
    #[derive(Serialize)]
    struct NoType {
        node: u8,
    }
    assert!(emit_to_string(0, &NoType { node: 1 }).is_err());
}

#[test]
fn timestamps_past_year_9999_are_written_as_its_last_millisecond() {
    assert_eq!(rfc3339(MAX_WALL_MS), "9999-12-31T23:59:59.999Z");
    assert_eq!(rfc3339(MAX_WALL_MS + 1), "9999-12-31T23:59:59.999Z");
    assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
}
