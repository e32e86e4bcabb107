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

/// A writer that counts its writes.
#[derive(Default)]
struct Writes {
    bytes: Vec<u8>,
    count: usize,
}

impl Write for Writes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.count += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Held lines go out together at `flush`, whole and in order; a turn
/// that makes more than `HELD_MAX` bytes of them writes as it goes.
#[test]
fn held_lines_go_out_in_one_write_at_flush() {
    let mut out = Output::new(Writes::default());
    out.hold_lines();
    for n in 0..3 {
        let node = format!("web-{n}");
        out.emit(0, &Sample::Up { node }).unwrap();
    }
    assert_eq!(out.out.count, 0, "held");
    out.flush().unwrap();
    assert_eq!(out.out.count, 1);
    let text = String::from_utf8(out.out.bytes.clone()).unwrap();
    let nodes: Vec<&str> = text.lines().map(|l| &l[l.len() - 7..l.len() - 2]).collect();
    assert_eq!(nodes, ["web-0", "web-1", "web-2"]);
    let node = "x".repeat(1000);
    for _ in 0..HELD_MAX / 1000 + 1 {
        out.emit(0, &Sample::Up { node: node.clone() }).unwrap();
    }
    assert_eq!(out.out.count, 2, "written once past the bound");
    // A long line streamed in pieces comes after the held ones.
    out.emit(0, &Sample::Empty {}).unwrap();
    out.emit_pieces(0, "status", |piece| {
        piece.push(b'}');
        true
    })
    .unwrap();
    let text = String::from_utf8(out.into_inner().bytes).unwrap();
    let kinds: Vec<&str> = text.lines().rev().take(2).map(|l| &l[9..14]).collect();
    assert_eq!(kinds, ["statu", "empty"]);
}

/// Lines of one millisecond share their timestamps, and a line of
/// another millisecond gets its own, even back in time.
#[test]
fn each_line_carries_its_own_moment() {
    let mut out = Output::new(Vec::new());
    let up = Sample::Up {
        node: "web-1".into(),
    };
    for ms in [1_764_166_364_123, 1_764_166_364_123, 1_764_166_364_124, 0] {
        out.emit(ms, &up).unwrap();
    }
    let text = String::from_utf8(out.out).unwrap();
    let stamps: Vec<&str> = text
        .lines()
        .map(|l| l.split(",\"node\"").next().unwrap())
        .collect();
    assert_eq!(
        stamps,
        [
            r#"{"type":"up","ts":"2025-11-26T14:12:44.123Z","ts_ms":1764166364123"#,
            r#"{"type":"up","ts":"2025-11-26T14:12:44.123Z","ts_ms":1764166364123"#,
            r#"{"type":"up","ts":"2025-11-26T14:12:44.124Z","ts_ms":1764166364124"#,
            r#"{"type":"up","ts":"1970-01-01T00:00:00.000Z","ts_ms":0"#,
        ]
    );
}
