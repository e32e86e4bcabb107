//! What a message's fields must be to count: names and reasons that read
//! as what they are wherever they are printed, and health that every JSON
//! reader downstream accepts.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Reject, MAX_BOOT_LEN, MAX_NODE_LEN, MAX_REASON_LEN, MAX_STDERR_LEN};
use crate::text::{clean_text, is_invisible};

/// An `away`'s reason is 1 to [`MAX_REASON_LEN`] bytes and reads as what
/// it is wherever it is printed, as a node name does (no control or
/// invisible characters); inner spaces are fine, edge spaces are not.
pub fn check_reason(reason: &str) -> Result<(), String> {
    if reason.len() > MAX_REASON_LEN {
        return Err(format!("at most {MAX_REASON_LEN} bytes"));
    }
    check_node(reason).map_err(|_| {
        "not empty, no control or invisible characters, no spaces at either end".to_owned()
    })
}

/// A line of a job's standard error as a `done` carries it: see
/// [`clean_text`], at most [`MAX_STDERR_LEN`] bytes. A line that is
/// already so is returned as it is, which is how receivers check one.
pub fn clean_line(line: &str) -> std::borrow::Cow<'_, str> {
    clean_text(line, MAX_STDERR_LEN)
}

/// A node name is 1 to [`MAX_NODE_LEN`] bytes, bounded in memory, and
/// reads as what it is wherever it is printed: no control characters, no
/// invisible ones that make a look-alike of another name (see
/// [`is_invisible`]), no white space at either end.
pub fn check_node(name: &str) -> Result<(), Reject> {
    let ends_blank = |c: Option<char>| c.is_some_and(char::is_whitespace);
    // Every beat's name is checked: an ASCII name (nearly all) is looked
    // at a byte at a time, as no ASCII character is invisible.
    let bad_char = match name.is_ascii() {
        true => name.bytes().any(|b| b.is_ascii_control()),
        false => name.chars().any(|c| c.is_control() || is_invisible(c)),
    };
    if name.is_empty()
        || name.len() > MAX_NODE_LEN
        || bad_char
        || ends_blank(name.chars().next())
        || ends_blank(name.chars().next_back())
    {
        return Err(Reject::BadNode);
    }
    Ok(())
}

/// A boot id is a short token: 1 to [`MAX_BOOT_LEN`] bytes, no control
/// characters.
pub(super) fn check_boot(boot: &str) -> Result<(), Reject> {
    if boot.is_empty() || boot.len() > MAX_BOOT_LEN || boot.chars().any(char::is_control) {
        return Err(Reject::BadField);
    }
    Ok(())
}

/// A sender's wall clock is printed as RFC 3339, which ends with year
/// 9999.
pub(super) fn check_ts(ts_ms: u64) -> Result<(), Reject> {
    if ts_ms > crate::output::MAX_WALL_MS {
        return Err(Reject::BadField);
    }
    Ok(())
}

/// `health` is opaque to hb but printed as it came, in every output and the
/// state file: so it must be a JSON object that any reader takes. serde
/// skips a value it keeps raw without checking its strings' escapes and its
/// numbers' size; strict readers (jq, Python's `json`) refuse a lone
/// surrogate escape, serde itself a number beyond a double. Reading it once
/// more, string by string and number by number, refuses those (`bad-json`,
/// as the same text anywhere else in the datagram is), and anything but an
/// object (`bad-field`). Raw line breaks between its tokens are valid JSON
/// but would split a single-line output (NDJSON, the Nagios line,
/// journald): `bad-field`.
pub(super) fn check_health(health: &RawValue) -> Result<(), Reject> {
    let text = health.get();
    if !text.starts_with('{') {
        return Err(Reject::BadField);
    }
    // Health without control bytes (nearly all) has no line breaks either:
    // one pass over it, not two.
    if surely_strict(text) {
        return Ok(());
    }
    if text.bytes().any(|b| b == b'\n' || b == b'\r') {
        return Err(Reject::BadField);
    }
    serde_json::from_str::<StrictJson>(text)
        .map(|_| ())
        .map_err(|_| Reject::BadJson)
}

/// Nesting deeper than this is refused by the strict reading (serde's own
/// limit): a text with more brackets than this is left to that reading.
const MAX_DEPTH: usize = 127;

/// Digits in a row that no double can fail to hold (its largest is 309
/// digits long): a longer run is left to the strict reading.
const SAFE_DIGITS: usize = 300;

/// Whether `text`, valid JSON, is surely read by a strict reader, by a few
/// passes over its bytes that each compile to vector instructions: it has
/// no escape at all (so no lone surrogate) nor control byte, no digit
/// followed by an exponent anywhere (so no number beyond a double, unless
/// it has hundreds of digits, which are counted), and fewer brackets than
/// the deepest nesting allowed. Each test errs on the side of the strict
/// reading: health as senders write it (`hb-send --health`: names and
/// plain numbers) passes, and skips that slower reading, which every beat
/// would otherwise cost.
pub(super) fn surely_strict(text: &str) -> bool {
    let bytes = text.as_bytes();
    // One pass, a block of bytes at a time, each block folded without an
    // early exit or a branch so that it is vectorized; a byte and the one
    // before it are compared for an exponent.
    let (mut flags, mut brackets) = (0u8, 0usize);
    // Not a digit: the first byte follows no number.
    let mut before = 0u8;
    for block in bytes.chunks(BLOCK) {
        let (mut seen, mut opened) = (0u8, 0u8);
        for &b in block {
            let escape = (b == b'\\') | (b < 0x20);
            let exponent = before.is_ascii_digit() & (b | 0x20 == b'e');
            seen |= u8::from(escape | exponent);
            opened += u8::from((b == b'{') | (b == b'['));
            before = b;
        }
        flags |= seen;
        brackets += usize::from(opened);
    }
    let long_number = bytes.len() > SAFE_DIGITS && longest_digit_run(bytes) > SAFE_DIGITS;
    flags == 0 && brackets <= MAX_DEPTH && !long_number
}

/// The bytes [`surely_strict`] folds at a time: few enough that a count of
/// brackets in one fits a byte.
const BLOCK: usize = 64;

/// The most digits in a row in `bytes`.
fn longest_digit_run(bytes: &[u8]) -> usize {
    bytes
        .split(|b| !b.is_ascii_digit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// Any JSON value, read through (strings unescaped, numbers parsed) and
/// kept nowhere: deserializing it fails where a strict reader would.
struct StrictJson;

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictJson)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictJson {
    type Value = StrictJson;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_i64<E>(self, _: i64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_u64<E>(self, _: u64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_f64<E>(self, _: f64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_str<E>(self, _: &str) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_unit<E>(self) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<StrictJson, A::Error> {
        while seq.next_element::<StrictJson>()?.is_some() {}
        Ok(StrictJson)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StrictJson, A::Error> {
        while map.next_entry::<StrictJson, StrictJson>()?.is_some() {}
        Ok(StrictJson)
    }
}

#[cfg(test)]
mod tests;
