use std::cell::RefCell;
use std::rc::Rc;

use super::*;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Sample {
    Down { node: &'static str },
    StillDown { node: &'static str },
}

/// What a subscriber saw: (kind, mono, wall, line).
type Seen = Rc<RefCell<Vec<(String, Millis, u64, String)>>>;

/// Records every line; says `still-down` of "a" once, at its first tick.
struct Recorder {
    seen: Seen,
    reminded: bool,
}

impl Subscriber for Recorder {
    fn take(&mut self, line: &Line<'_>) {
        let json = String::from_utf8(line.json.to_vec()).unwrap();
        let seen = (line.kind.to_owned(), line.at.mono, line.at.wall, json);
        self.seen.borrow_mut().push(seen);
    }

    fn tick(&mut self, _at: Moment, said: &mut Vec<Said>) {
        if !std::mem::replace(&mut self.reminded, true) {
            said.push(Said::new(&Sample::StillDown { node: "a" }).unwrap());
        }
    }

    fn next_wake(&self) -> Option<Millis> {
        (!self.reminded).then_some(1500)
    }
}

fn recorder() -> (Box<Recorder>, Seen) {
    let seen = Seen::default();
    let r = Recorder {
        seen: Rc::clone(&seen),
        reminded: false,
    };
    (Box::new(r), seen)
}

#[test]
fn a_line_is_printed_once_and_every_subscriber_gets_the_same_bytes() {
    let mut sink = Sink::new(Output::new(Vec::new()));
    let ((first, seen_first), (second, seen_second)) = (recorder(), recorder());
    sink.subscribe(first);
    sink.subscribe(second);
    sink.emit(Moment::new(7, 1_000), &Sample::Down { node: "a" })
        .unwrap();
    let printed = String::from_utf8(sink.into_inner()).unwrap();
    let line = r#"{"type":"down","ts":"1970-01-01T00:00:01.000Z","ts_ms":1000,"node":"a"}"#;
    assert_eq!(printed, format!("{line}\n"));
    for seen in [seen_first, seen_second] {
        assert_eq!(
            *seen.borrow(),
            [("down".to_owned(), 7, 1_000, format!("{line}\n"))]
        );
    }
}

#[test]
fn what_a_subscriber_says_is_printed_and_handed_to_every_subscriber() {
    let mut sink = Sink::new(Output::new(Vec::new()));
    let (recorder, seen) = recorder();
    sink.subscribe(recorder);
    assert_eq!(sink.next_wake(), Some(1500));
    sink.tick(Moment::new(1500, 2_000)).unwrap();
    assert_eq!(sink.next_wake(), None);
    sink.tick(Moment::new(1600, 2_100)).unwrap();
    let printed = String::from_utf8(sink.into_inner()).unwrap();
    let line = r#"{"type":"still-down","ts":"1970-01-01T00:00:02.000Z","ts_ms":2000,"node":"a"}"#;
    assert_eq!(printed, format!("{line}\n"));
    let kinds: Vec<String> = seen.borrow().iter().map(|s| s.0.clone()).collect();
    assert_eq!(kinds, ["still-down"]);
}

#[test]
fn reports_are_printed_only() {
    let mut sink = Sink::new(Output::new(Vec::new()));
    let (recorder, seen) = recorder();
    sink.subscribe(recorder);
    sink.emit_report(Moment::new(1, 0), &Sample::Down { node: "r" })
        .unwrap();
    sink.emit_pieces(Moment::new(1, 0), "status", |piece| {
        piece.extend_from_slice(b"}");
        true
    })
    .unwrap();
    assert!(seen.borrow().is_empty());
    let printed = String::from_utf8(sink.into_inner()).unwrap();
    assert_eq!(printed.lines().count(), 2, "{printed}");
}

#[test]
fn a_sink_without_subscribers_only_prints() {
    let mut sink = Sink::new(Output::new(Vec::new()));
    assert_eq!(sink.next_wake(), None);
    sink.emit(Moment::default(), &Sample::Down { node: "a" })
        .unwrap();
    sink.tick(Moment::default()).unwrap();
    assert_eq!(
        String::from_utf8(sink.into_inner())
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn the_type_of_a_line_is_read_from_its_start() {
    assert_eq!(
        type_of(br#"{"type":"still-down","ts":"x"}"#),
        Some("still-down")
    );
    assert_eq!(type_of(br#"{"node":"a","type":"down"}"#), None);
    assert_eq!(type_of(b"not json"), None);
}
