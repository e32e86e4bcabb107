//! Wire format v1: one UTF-8 JSON object per UDP datagram.
//!
//! Decoding is deliberately lenient about what it does not know (unknown
//! fields are ignored, so newer senders keep working with older receivers)
//! and strict about what it needs (`type` and a valid `node`). Every way a
//! datagram can be refused has a [`Reject`] reason, so receivers count and
//! skip bad input instead of failing. See `docs/protocol.md`.

use std::borrow::Cow;
use std::net::SocketAddr;

use crate::checks::CheckResult;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod canonical;
mod check;
mod job;
mod reject;

pub use crate::text::{clean_text, is_invisible};
use check::{check_boot, check_health, check_ts};
pub use check::{check_node, check_reason, clean_line};
use job::due_of;
pub use job::{Done, Due, Ended, Start};
pub use reject::Reject;

/// Senders keep every datagram at most this long, so it fits one Ethernet
/// frame with room for IP and UDP headers (and tunnels); receivers refuse
/// longer ones.
pub const MAX_DATAGRAM: usize = 1400;
/// Where `hb-listen` receives heartbeats by default.
pub const DEFAULT_BEAT_PORT: u16 = 26722;
/// Where `hb-ack` receives probes and beats that ask for acks by default.
pub const DEFAULT_ACK_PORT: u16 = 26723;
/// The interval assumed for a beat that does not say its own `every_ms`.
pub const DEFAULT_EVERY_MS: u64 = 1000;
/// Node names are at most a DNS name long.
pub const MAX_NODE_LEN: usize = 253;
/// The shortest interval a beat may state (`every_ms`) and a flag may
/// set: below it a sender floods its listener with verdicts faster than an
/// operator can read them.
pub const MIN_EVERY_MS: u64 = 10;
/// The longest interval a beat may state and the longest duration any flag
/// takes: a week, for a weekly job's beat. Deadlines and phi's windows
/// stay far from overflow below it.
pub const MAX_EVERY_MS: u64 = 7 * 24 * 3600 * 1000;
/// A line of a recorded file (`hb-listen --from`) is at most a datagram
/// and what a recorder adds to it (`ts`, `ts_ms`, `addr` or `from`);
/// longer lines are refused (`too-large`) without being kept whole.
pub const MAX_LINE: usize = MAX_DATAGRAM + 512;
/// Boot ids are short random tokens (hb's own: 16 hex digits); every
/// tracked node keeps one, so a sender may not make it large.
pub const MAX_BOOT_LEN: usize = 64;
/// The absences an `away` may announce: from a second (shorter ones would
/// end before an operator read them) to a week, the longest interval, so
/// that a forgotten maintenance still ends in a verdict.
pub const MIN_AWAY_MS: u64 = 1000;
pub const MAX_AWAY_MS: u64 = MAX_EVERY_MS;
/// An `away`'s reason is a short note for the operator (`upgrade`, a
/// ticket number), printed in every `away` line and status: bounded.
pub const MAX_REASON_LEN: usize = 200;
/// The longest time a job may give as its grace, its longest run or a
/// run's duration: a year and a day, for a yearly job.
pub const MAX_JOB_MS: u64 = 366 * 24 * 3600 * 1000;
/// A `done`'s last line of standard error is a short note for the
/// operator, printed in every `failed` line: bounded.
pub const MAX_STDERR_LEN: usize = 200;

/// "I am alive": the heartbeat. Only `node` is required on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct Beat<'a> {
    pub node: Cow<'a, str>,
    /// +1 per beat sent by this boot; gaps tell the receiver beats were lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Random id drawn at each sender start: a new one means a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<Cow<'a, str>>,
    /// The sender's own interval, so one listener can watch fast and slow
    /// nodes side by side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    /// Sender wall clock; for display only, never for deadlines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// Opaque to the transport: whatever health the sender measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<&'a RawValue>,
    /// The sender asks the receiver (hb-ack) to acknowledge this beat.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ack: bool,
    /// The sender answers probes on the socket it beats from, so a
    /// listener may ask it before declaring it down (`hb-send` does).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub answers: bool,
    /// Plugin checks' latest results (`hb-send --check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckResult>>,
    /// A job's next deadline: the node is judged by it, not by `every_ms`.
    #[serde(flatten)]
    pub due: Option<Due>,
}

/// "Are you alive?": a poller asks a responder.
#[derive(Debug, Clone, Serialize)]
pub struct Probe<'a> {
    /// The poller's name.
    pub node: Cow<'a, str>,
    /// Random per probe; the reply echoes it, which is how replies are
    /// matched (not by source address, which NAT and multi-homing change).
    pub nonce: u64,
    /// Set in a relay request: "probe this address for me" (SWIM's
    /// ping-req). The relay answers with the target's reply, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<SocketAddr>,
}

/// The answer to a [`Probe`].
#[derive(Debug, Clone, Serialize)]
pub struct Reply<'a> {
    /// The responder's name.
    pub node: Cow<'a, str>,
    pub nonce: u64,
    /// The responder's boot id: a new one means it restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// Borrowed from the datagram, or (read in one pass, see
    /// `canonical`) its own copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Cow<'a, RawValue>>,
    /// Set when a relay forwards the target's reply: the relay's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Cow<'a, str>>,
    /// Plugin checks' latest results (`hb-ack --check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckResult>>,
}

/// One observer's opinion of the nodes it watches, shared with its peers
/// in a quorum group: the nodes it sees up, suspect and down. A view too
/// large for one datagram is sent as several, each a view of its own.
#[derive(Debug, Clone, Serialize)]
pub struct View<'a> {
    /// The observer.
    pub node: Cow<'a, str>,
    /// +1 per view datagram of this observer's boot.
    pub seq: u64,
    /// The observer's boot id and wall clock: with `seq`, what replay
    /// protection checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    pub up: Vec<Cow<'a, str>>,
    pub suspect: Vec<Cow<'a, str>>,
    pub down: Vec<Cow<'a, str>>,
    /// Nodes that said they stop (`leave`) or are away: no vote either way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub away: Vec<Cow<'a, str>>,
}

/// "I am stopping on purpose": a sender stopped by its operator says so
/// before it exits, so its silence is not a failure. It carries what
/// replay protection checks, as a beat may: `boot` and `seq` (required
/// here, since the message changes the node's state at once) and `ts_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct Leave<'a> {
    pub node: Cow<'a, str>,
    pub seq: u64,
    pub boot: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
}

/// "I will be gone for a while": a planned absence with a return date,
/// checked for replays as a [`Leave`] is.
#[derive(Debug, Clone, Serialize)]
pub struct Away<'a> {
    pub node: Cow<'a, str>,
    pub seq: u64,
    pub boot: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// How long the absence lasts from its receipt (so the two clocks
    /// need not agree), [`MIN_AWAY_MS`] to [`MAX_AWAY_MS`].
    pub for_ms: u64,
    /// Why, for the operator: at most [`MAX_REASON_LEN`] bytes, printable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'a, str>>,
}

/// The receiver got beat `seq` of node `of`.
#[derive(Debug, Clone, Serialize)]
pub struct Ack<'a> {
    /// The acknowledging receiver.
    pub node: Cow<'a, str>,
    /// The node whose beat is acknowledged.
    pub of: Cow<'a, str>,
    pub seq: u64,
}

/// A decoded datagram.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Message<'a> {
    Beat(Beat<'a>),
    Probe(Probe<'a>),
    Reply(Reply<'a>),
    Ack(Ack<'a>),
    View(View<'a>),
    Leave(Leave<'a>),
    Away(Away<'a>),
    Start(Start<'a>),
    Done(Done<'a>),
}

/// The shape every v1 message shares, borrowed from the datagram so a
/// decode allocates only where a string needed unescaping.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    node: Option<Text<'a>>,
    seq: Option<u64>,
    #[serde(borrow)]
    boot: Option<Text<'a>>,
    every_ms: Option<u64>,
    ts_ms: Option<u64>,
    #[serde(borrow)]
    health: Option<&'a RawValue>,
    ack: Option<bool>,
    answers: Option<bool>,
    nonce: Option<u64>,
    #[serde(borrow)]
    of: Option<Text<'a>>,
    #[serde(borrow)]
    up: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    suspect: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    down: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    left: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    away: Option<Vec<Text<'a>>>,
    target: Option<SocketAddr>,
    #[serde(borrow)]
    via: Option<Text<'a>>,
    checks: Option<Vec<CheckResult>>,
    for_ms: Option<u64>,
    #[serde(borrow)]
    reason: Option<Text<'a>>,
    due_ms: Option<u64>,
    grace_ms: Option<u64>,
    max_run_ms: Option<u64>,
    exit: Option<u8>,
    signal: Option<u8>,
    duration_ms: Option<u64>,
    #[serde(borrow)]
    stderr: Option<Text<'a>>,
}

/// A string field, borrowed from the datagram unless it holds escapes.
/// serde borrows a `Cow` only where it is a field itself, not inside an
/// `Option` or a `Vec`: without this every beat allocated its type, node
/// name and boot id.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> Text<'a> {
    fn some(text: Option<Text<'a>>) -> Option<Cow<'a, str>> {
        text.map(|t| t.0)
    }
}

/// The v1 message types.
const TYPES: [&str; 9] = [
    "beat", "probe", "reply", "ack", "view", "leave", "away", "start", "done",
];

/// Decodes one datagram, or says why it is refused.
pub fn decode(datagram: &[u8]) -> Result<Message<'_>, Reject> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Reject::TooLarge);
    }
    decode_record(datagram)
}

/// Decodes one message that did not come as a datagram (a line of a
/// recorded file, which carries extra fields such as `ts` and `from`), so
/// without the datagram size limit: the reader of lines keeps them within
/// [`MAX_LINE`].
pub fn decode_record<'a>(bytes: &'a [u8]) -> Result<Message<'a>, Reject> {
    let datagram = bytes;
    // serde reports "expected a struct" for `42` as a data error; for the
    // operator that is simply not a heartbeat object.
    match datagram.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => return Err(Reject::BadJson),
    }
    // One UTF-8 check for the whole datagram: parsing from bytes would
    // check each string again.
    let text = std::str::from_utf8(datagram).map_err(|_| Reject::BadJson)?;
    if let Some(reply) = canonical::reply(text) {
        return Ok(reply);
    }
    read(text)
}

/// Reads any message, in any JSON form, with serde's reader.
fn read<'a>(text: &'a str) -> Result<Message<'a>, Reject> {
    let fields: Fields = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Reject::BadField,
        _ => Reject::BadJson,
    })?;
    let kind = Text::some(fields.kind).ok_or(Reject::UnknownType)?;
    if !TYPES.contains(&kind.as_ref()) {
        return Err(Reject::UnknownType);
    }
    let node = Text::some(fields.node).ok_or(Reject::BadNode)?;
    check_node(&node)?;
    let boot = Text::some(fields.boot);
    boot.as_deref().map(check_boot).transpose()?;
    if let Some(health) = fields.health {
        check_health(health)?;
    }
    if fields
        .every_ms
        .is_some_and(|every| !(MIN_EVERY_MS..=MAX_EVERY_MS).contains(&every))
    {
        return Err(Reject::BadField);
    }
    fields.ts_ms.map(check_ts).transpose()?;
    let due = due_of(fields.due_ms, fields.grace_ms)?;
    let checks = fields.checks.map(|mut checks| {
        for c in &mut checks {
            c.sanitize();
        }
        checks
    });
    match kind.as_ref() {
        "beat" => Ok(Message::Beat(Beat {
            node,
            seq: fields.seq,
            boot,
            every_ms: fields.every_ms,
            ts_ms: fields.ts_ms,
            health: fields.health,
            ack: fields.ack.unwrap_or(false),
            answers: fields.answers.unwrap_or(false),
            checks,
            due,
        })),
        "probe" => Ok(Message::Probe(Probe {
            node,
            nonce: fields.nonce.ok_or(Reject::BadField)?,
            target: fields.target,
        })),
        "reply" => {
            let via = Text::some(fields.via);
            if via.as_deref().is_some_and(|v| check_node(v).is_err()) {
                return Err(Reject::BadField);
            }
            Ok(Message::Reply(Reply {
                node,
                nonce: fields.nonce.ok_or(Reject::BadField)?,
                boot,
                ts_ms: fields.ts_ms,
                health: fields.health.map(Cow::Borrowed),
                via,
                checks,
            }))
        }
        "ack" => {
            let of = Text::some(fields.of).ok_or(Reject::BadField)?;
            check_node(&of).map_err(|_| Reject::BadField)?;
            Ok(Message::Ack(Ack {
                node,
                of,
                seq: fields.seq.ok_or(Reject::BadField)?,
            }))
        }
        "view" => {
            let names = |list: Option<Vec<Text<'a>>>| -> Result<Vec<Cow<'a, str>>, Reject> {
                let list = list.unwrap_or_default();
                if list.iter().any(|n| check_node(&n.0).is_err()) {
                    return Err(Reject::BadField);
                }
                Ok(list.into_iter().map(|n| n.0).collect())
            };
            Ok(Message::View(View {
                node,
                seq: fields.seq.ok_or(Reject::BadField)?,
                boot,
                ts_ms: fields.ts_ms,
                up: names(fields.up)?,
                suspect: names(fields.suspect)?,
                down: names(fields.down)?,
                left: names(fields.left)?,
                away: names(fields.away)?,
            }))
        }
        "leave" => Ok(Message::Leave(Leave {
            node,
            seq: fields.seq.ok_or(Reject::BadField)?,
            boot: boot.ok_or(Reject::BadField)?,
            ts_ms: fields.ts_ms,
        })),
        "away" => {
            let for_ms = fields
                .for_ms
                .filter(|ms| (MIN_AWAY_MS..=MAX_AWAY_MS).contains(ms))
                .ok_or(Reject::BadField)?;
            let reason = Text::some(fields.reason);
            if let Some(reason) = &reason {
                check_reason(reason).map_err(|_| Reject::BadField)?;
            }
            Ok(Message::Away(Away {
                node,
                seq: fields.seq.ok_or(Reject::BadField)?,
                boot: boot.ok_or(Reject::BadField)?,
                ts_ms: fields.ts_ms,
                for_ms,
                reason,
            }))
        }
        "start" => Ok(Message::Start(Start {
            node,
            seq: fields.seq.ok_or(Reject::BadField)?,
            boot: boot.ok_or(Reject::BadField)?,
            ts_ms: fields.ts_ms,
            due,
            max_run_ms: match fields.max_run_ms {
                Some(ms) if !(MIN_EVERY_MS..=MAX_JOB_MS).contains(&ms) => {
                    return Err(Reject::BadField)
                }
                ms => ms,
            },
        })),
        "done" => {
            let ended = match (fields.exit, fields.signal) {
                (Some(code), None) => Ended::Exit(code),
                (None, Some(signal)) if signal > 0 => Ended::Signal(signal),
                _ => return Err(Reject::BadField),
            };
            let stderr = Text::some(fields.stderr);
            if stderr.as_deref().is_some_and(|s| clean_line(s) != s) {
                return Err(Reject::BadField);
            }
            Ok(Message::Done(Done {
                node,
                seq: fields.seq.ok_or(Reject::BadField)?,
                boot: boot.ok_or(Reject::BadField)?,
                ts_ms: fields.ts_ms,
                due,
                ended,
                duration_ms: fields
                    .duration_ms
                    .filter(|&ms| ms <= MAX_JOB_MS)
                    .ok_or(Reject::BadField)?,
                stderr,
            }))
        }
        _ => Err(Reject::UnknownType),
    }
}

/// A message could not be encoded within [`MAX_DATAGRAM`] bytes.
#[derive(Debug, thiserror::Error)]
#[error("message is {len} bytes, more than the {MAX_DATAGRAM}-byte datagram limit")]
pub struct TooLarge {
    pub len: usize,
}

/// Encodes a message into `buf` (cleared first).
pub fn encode(msg: &Message<'_>, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
    buf.clear();
    serde_json::to_writer(&mut *buf, msg).expect("serializing to a Vec cannot fail");
    if buf.len() > MAX_DATAGRAM {
        return Err(TooLarge { len: buf.len() });
    }
    Ok(())
}

/// A probe from one node, encoded as far as its nonce: a poller sends
/// thousands from the same node, and serde's encoding of each, all alike
/// but for the nonce, was a twentieth of a large round.
pub struct ProbeHead(Vec<u8>);

impl ProbeHead {
    pub fn new(node: &str) -> Self {
        let mut head = br#"{"type":"probe","node":"#.to_vec();
        serde_json::to_writer(&mut head, node).expect("serializing to a Vec cannot fail");
        head.extend_from_slice(br#","nonce":"#);
        ProbeHead(head)
    }

    /// Encodes the direct probe (no `target`) with `nonce` into `buf`
    /// (cleared first), as [`encode`] encodes it.
    pub fn encode(&self, nonce: u64, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        buf.clear();
        buf.extend_from_slice(&self.0);
        buf.extend_from_slice(itoa::Buffer::new().format(nonce).as_bytes());
        buf.push(b'}');
        if buf.len() > MAX_DATAGRAM {
            return Err(TooLarge { len: buf.len() });
        }
        Ok(())
    }
}

/// A fresh random boot id: 16 hex digits.
pub fn new_boot_id() -> String {
    let n = getrandom::u64().expect("the OS random source is available");
    format!("{n:016x}")
}

/// Probe nonces (hb-poll's, and hb-listen's of suspect nodes):
/// unpredictable to anyone who does not see the probes (so a spoofed reply
/// cannot guess one), without a syscall per probe: a SplitMix64 sequence
/// from one random seed.
pub struct Nonces(u64);

impl Nonces {
    pub fn new() -> std::io::Result<Self> {
        Ok(Nonces(getrandom::u64().map_err(std::io::Error::other)?))
    }

    /// The next nonce.
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests;
