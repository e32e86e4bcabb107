use super::*;

fn suspect(node: &str) -> Event {
    Event::Suspect {
        node: node.into(),
        addr: None,
        silent_ms: 1500,
        phi: None,
    }
}

fn down(node: &str) -> Event {
    Event::Down {
        node: node.into(),
        addr: None,
        silent_ms: 3500,
        missed: 3,
        last_seen: None,
        phi: None,
        loss_before: None,
        observer: "ok",
        cause: "silence",
        no_answer: None,
        pauses: false,
    }
}

fn up(node: &str) -> Event {
    Event::Up {
        node: node.into(),
        addr: None,
        was: None,
        silent_ms: Some(100),
        down_ms: Some(100),
        refuted: false,
        degraded: false,
    }
}

/// The durations as `restate` sets them: silent_ms, down_ms.
fn durations(event: &Event) -> (Option<Millis>, Option<Millis>) {
    match event {
        Event::Suspect { silent_ms, .. } | Event::Down { silent_ms, .. } => {
            (Some(*silent_ms), None)
        }
        Event::Up {
            silent_ms, down_ms, ..
        } => (*silent_ms, *down_ms),
        _ => (None, None),
    }
}

#[test]
fn silences_count_from_the_last_answer_and_downs_from_the_down() {
    let mut real = RealTime::default();
    real.watch("a", 0);
    real.watch("never", 0);
    real.answered("a", 40);
    // Rounds stretched by a long timeout: the detector says 1500 and
    // 3500, the real silences are longer.
    let mut events = [suspect("a"), suspect("never")];
    real.restate(3_040, &mut events);
    assert_eq!(
        events.map(|e| durations(&e)),
        [(Some(3_000), None), (Some(3_040), None)]
    );
    let mut events = [down("a")];
    real.restate(9_040, &mut events);
    assert_eq!(durations(&events[0]), (Some(9_000), None));
    real.answered("a", 10_040);
    let mut events = [up("a")];
    real.restate(10_100, &mut events);
    assert_eq!(durations(&events[0]), (Some(10_000), Some(1_060)));
}

#[test]
fn a_target_forgotten_and_watched_again_starts_afresh() {
    let mut real = RealTime::default();
    real.watch("a", 0);
    real.forget("a");
    real.watch("a", 500);
    let mut events = [suspect("a")];
    real.restate(2_000, &mut events);
    assert_eq!(durations(&events[0]), (Some(1_500), None));
}
