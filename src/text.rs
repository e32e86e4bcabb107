//! Text as hb prints what others wrote (names, reasons, a check's or a
//! job's output): cut to a size, and cleaned of what would not read as
//! what it is. The ground floor under the wire, checks and pipes.

/// What marks a text as cut.
pub const CUT_MARK: &str = "…";

/// `text` in at most `max` bytes: whole if it fits, else as much as fits
/// before [`CUT_MARK`] (nothing at all when `max` has no room for it).
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let Some(mut end) = max.checked_sub(CUT_MARK.len()) else {
        return String::new();
    };
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &text[..end])
}

/// `line` as one line that reads as what it is wherever it is printed:
/// control and invisible characters cut, no blanks at either end, at most
/// `max` bytes (cut with `…`). A line that is already so is returned as it
/// is.
pub fn clean_text(line: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let kept = |c: &char| !c.is_control() && !is_invisible(*c);
    let trimmed = line.trim();
    if trimmed.len() == line.len() && line.chars().all(|c| kept(&c)) {
        if line.len() <= max {
            return line.into();
        }
        return cut(line, max).into();
    }
    let clean: String = trimmed.chars().filter(kept).collect();
    cut(clean.trim(), max).into()
}

/// Format characters (Unicode category Cf) and line separators: they print
/// as nothing, or reorder the text around them (the bidirectional overrides
/// and isolates), so `web-1` and `web-1` followed by a zero-width space, or
/// a name that prints backwards, would look alike in an operator's output.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}'                       // soft hyphen
        | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{890}'..='\u{891}'
        | '\u{8e2}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}'       // zero-width space, joiners, LRM, RLM
        | '\u{2028}'..='\u{202e}'       // line and paragraph separators, bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{2066}'..='\u{206f}'       // bidi isolates, deprecated format characters
        | '\u{feff}'                     // zero-width no-break space (BOM)
        | '\u{fff9}'..='\u{fffb}'       // interlinear annotations
        | '\u{110bd}' | '\u{110cd}' | '\u{13430}'..='\u{1343f}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}')
}
