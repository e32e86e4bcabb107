//! Replies as hb-ack writes them, read in one pass.
//!
//! A round of hb-poll reads one reply per target, and serde's reader of
//! any message (every field of every type, each value stepped through a
//! byte at a time, health read again for strictness) was most of the
//! round's own work. A reply in the form [`super::encode`] writes it is
//! read here instead: its fields in their order, no white space, strings
//! without escapes or control bytes, health a flat object of plain numbers,
//! then the signature, if any. Anything else (white space, escapes, other
//! fields, `via`, `checks`, nested health, exponents) is left to the
//! general reader, which stays the definition of a reply: this one gives
//! the message that reader gives, or declines (the property tests hold
//! the two together).

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{check_boot, check_node, check_ts, Message, Reply};

/// How a reply written by [`super::encode`] begins.
const HEAD: &str = r#"{"type":"reply","node":""#;

/// A plain number in health longer than this is left to the general
/// reader: far below the hundreds of digits where a number stops fitting
/// a double, which the strict reading of health refuses.
const MAX_PLAIN_NUMBER: usize = 40;

/// The reply in `text`, as [`super::decode_record`] reads it, if `text` is
/// in the form hb-ack writes and the general reader accepts it; `None`
/// leaves it to that reader, for the message or the reason it is refused.
pub(super) fn reply(text: &str) -> Option<Message<'_>> {
    if !text.starts_with(HEAD) {
        return None;
    }
    let mut at = Cursor {
        text,
        at: HEAD.len(),
    };
    let node = at.string()?;
    at.eat(r#","nonce":"#)?;
    let nonce = at.integer()?;
    let boot = match at.eat(r#","boot":""#) {
        Some(()) => Some(at.string()?),
        None => None,
    };
    let ts_ms = match at.eat(r#","ts_ms":"#) {
        Some(()) => Some(at.integer()?),
        None => None,
    };
    let health = match at.eat(r#","health":"#) {
        Some(()) => Some(at.flat_object()?),
        None => None,
    };
    // A signature is a field the reader skips: only its place is checked
    // here, its value by the codec before.
    if at.eat(r#","mac":""#).is_some() {
        at.string()?;
    }
    at.eat("}")?;
    if at.at != text.len() {
        return None;
    }
    // Checked as the general reader checks them: one it refuses is left
    // to it, for its reason.
    check_node(node).ok()?;
    boot.map(check_boot).transpose().ok()?;
    ts_ms.map(check_ts).transpose().ok()?;
    // SAFETY: `flat_object` took only `{}` or `{"name":number,...}`, its
    // names without quotes, escapes or control bytes and its numbers in
    // JSON's grammar: valid JSON, which is all a raw value must be. It is
    // an object whose strict reading takes it (no escapes, no number
    // beyond a double, no nesting), so the check the general reader makes
    // of health holds. A copy, as the reply's reader keeps health anyway:
    // reading it again to borrow it was as much as the rest of the reply.
    let health = health
        .map(|object| Cow::Owned(unsafe { RawValue::from_string_unchecked(object.to_owned()) }));
    Some(Message::Reply(Reply {
        node: Cow::Borrowed(node),
        nonce,
        boot: boot.map(Cow::Borrowed),
        ts_ms,
        health,
        via: None,
        checks: None,
    }))
}

/// The bytes a string without escapes ends at: its closing quote, or
/// what is not in one (an escape, a control byte). A table: a string is
/// most of a reply's bytes, and three tests a byte were most of its cost.
static ENDS_STRING: [bool; 256] = {
    let mut ends = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        ends[b] = true;
        b += 1;
    }
    ends[b'"' as usize] = true;
    ends[b'\\' as usize] = true;
    ends
};

/// A reading position in a message's text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    /// Steps over `literal` if the text goes on with it.
    fn eat(&mut self, literal: &str) -> Option<()> {
        self.rest().starts_with(literal.as_bytes()).then(|| {
            self.at += literal.len();
        })
    }

    /// A string's contents up to its closing quote (its opening one
    /// eaten), which must hold no escape and no control byte: the general
    /// reader would unescape the one and refuse the other.
    fn string(&mut self) -> Option<&'a str> {
        let len = self
            .rest()
            .iter()
            .position(|&b| ENDS_STRING[usize::from(b)])?;
        (self.rest()[len] == b'"').then_some(())?;
        // The quote is ASCII, so a character boundary.
        let contents = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(contents)
    }

    /// An integer as JSON writes one that fits a `u64`.
    fn integer(&mut self) -> Option<u64> {
        let digits = self.whole()?;
        let value = self.rest()[..digits].iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        self.at += digits;
        Some(value)
    }

    /// How many digits a number's whole part that the text goes on with
    /// has, as JSON writes one: at least one, no leading zero.
    fn whole(&self) -> Option<usize> {
        let digits = self.digits();
        let leading_zero = digits > 1 && self.rest()[0] == b'0';
        (digits > 0 && !leading_zero).then_some(digits)
    }

    /// How many ASCII digits the text goes on with.
    fn digits(&self) -> usize {
        self.rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    }

    /// An object of names without escapes, each with a plain number: its
    /// text, braces included.
    fn flat_object(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.eat("{")?;
        if self.eat("}").is_none() {
            loop {
                self.eat("\"")?;
                self.string()?;
                self.eat(":")?;
                self.plain_number()?;
                if self.eat("}").is_some() {
                    break;
                }
                self.eat(",")?;
            }
        }
        Some(&self.text[start..self.at])
    }

    /// A number without an exponent, as JSON writes one:
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, at most [`MAX_PLAIN_NUMBER`] bytes.
    fn plain_number(&mut self) -> Option<()> {
        let start = self.at;
        let _ = self.eat("-");
        self.at += self.whole()?;
        if self.eat(".").is_some() {
            let fraction = self.digits();
            (fraction > 0).then_some(())?;
            self.at += fraction;
        }
        (self.at - start <= MAX_PLAIN_NUMBER).then_some(())
    }
}

#[cfg(test)]
mod tests;
