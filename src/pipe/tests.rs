use std::process::{Command, Stdio};

use super::*;
use crate::wire::MAX_STDERR_LEN;

fn last_line(pieces: &[&[u8]]) -> Option<String> {
    let mut last = LastLine::new(MAX_STDERR_LEN);
    for piece in pieces {
        last.feed(piece);
    }
    last.finish()
}

#[test]
fn the_last_line_is_the_last_not_empty_one_however_it_is_cut_in_pieces() {
    assert_eq!(last_line(&[b"one\ntw", b"o\n\n  \n"]), Some("two".into()));
    assert_eq!(
        last_line(&[b"one\nno newline at the end"]),
        Some("no newline at the end".into())
    );
    assert_eq!(last_line(&[b"\n\n"]), None);
    assert_eq!(last_line(&[]), None);
}

#[test]
fn the_last_line_has_no_control_characters_and_is_bounded() {
    assert_eq!(
        last_line(&[b"50%\r100%\x1b[0m done\t!\n"]),
        Some("50%100%[0m done!".into())
    );
    let long = vec![b'x'; 100_000];
    let line = last_line(&[&long, &long]).unwrap();
    assert!(line.len() <= MAX_STDERR_LEN, "{}", line.len());
    assert!(line.ends_with(crate::text::CUT_MARK));
    assert_eq!(
        last_line(&[b"\xff\xfe broken utf-8\n"]),
        Some("\u{fffd}\u{fffd} broken utf-8".into())
    );
    let mut last = LastLine::new(512);
    last.feed("é".repeat(400).as_bytes());
    let cut = last.finish().unwrap();
    assert!(cut.len() <= 512 && cut.trim_end_matches('…').chars().all(|c| c == 'é'));
}

#[test]
fn a_line_without_end_is_held_in_bounded_memory() {
    let mut last = LastLine::new(512);
    let megabyte = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        last.feed(&megabyte);
    }
    assert!(last.held() <= 8 * 512, "{} bytes held", last.held());
    last.feed(b"\nlast words\n");
    assert_eq!(last.finish().as_deref(), Some("last words"));
}

/// `sh -c SCRIPT` with its standard error piped, and a tail reading it.
fn tail_of(script: &str) -> (std::process::Child, Tail) {
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tail = Tail::new(child.stderr.take().unwrap(), 512);
    (child, tail)
}

#[test]
fn a_child_left_holding_stderr_delays_the_last_line_by_the_grace_only() {
    let (mut child, mut tail) =
        tail_of("sleep 5 >/dev/null & echo first >&2; echo 'last words' >&2");
    while child.try_wait().unwrap().is_none() {
        tail.read_for(Duration::from_millis(10));
    }
    let exited = Instant::now();
    assert_eq!(tail.finish().as_deref(), Some("last words"));
    let waited = exited.elapsed();
    assert!(
        waited < GRACE * 5,
        "waited {waited:?} for a pipe still held"
    );
}

#[test]
fn a_child_that_writes_without_pause_is_read_a_bounded_piece_at_a_time() {
    let (mut child, mut tail) = tail_of("exec cat /dev/zero >&2");
    let looked = Instant::now();
    tail.read_for(Duration::from_millis(10));
    // One look returns, however much there is to read.
    assert!(looked.elapsed() < Duration::from_secs(5));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(tail.finish(), None);
}
