use super::*;

fn last_line(pieces: &[&[u8]]) -> Option<String> {
    let mut last = LastLine::default();
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
    assert!(line.ends_with(crate::checks::CUT_MARK));
    assert_eq!(
        last_line(&[b"\xff\xfe broken utf-8\n"]),
        Some("\u{fffd}\u{fffd} broken utf-8".into())
    );
}
