//! Why a datagram is refused: the reasons receivers count and log.

/// Why a datagram was refused. The string forms are part of the output
/// contract (they are the keys of the `rejected` counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// Not a JSON object at all (syntax error, truncated, not UTF-8), or
    /// JSON that strict readers refuse: a lone surrogate escape
    /// (`"\ud800"`), a number beyond the range of a double.
    BadJson,
    /// Valid JSON, but a known field has the wrong type (e.g. `"seq":"x"`,
    /// `health` not an object) or a value out of its range.
    BadField,
    /// Longer than [`MAX_DATAGRAM`] (a recorded line: [`MAX_LINE`]).
    TooLarge,
    /// `type` missing, or a type this version does not know.
    UnknownType,
    /// A known type that this receiver does not handle (a probe sent to a
    /// heartbeat listener, say).
    UnexpectedType,
    /// `node` missing, empty, too long, or not printable as it is (see
    /// [`check_node`]).
    BadNode,
    /// A quorum view from an address that is not one of our `--peer`s.
    UnknownPeer,
    /// With a key: no MAC, or a MAC no key verifies.
    BadMac,
    /// An old or repeated message: a seq not above its boot's last, a stale leave.
    Replay,
    /// With a key, a new boot (a restart, any `--run` or `--away`) whose clock
    /// is unstated or beyond `--max-skew` of ours: a recording, or a clock off.
    Skew,
    /// From an address outside `--allow`.
    NotAllowed,
    /// A new node when `--max-nodes` are tracked already.
    TooManyNodes,
    /// Without a key, a reply would be larger than the probe that asked
    /// for it: no reply, so hb-ack is no amplifier.
    Amplification,
}

impl Reject {
    /// Every reason, so that counters by reason can start at zero.
    pub const ALL: [Reject; 13] = [
        Reject::BadJson,
        Reject::BadField,
        Reject::TooLarge,
        Reject::UnknownType,
        Reject::UnexpectedType,
        Reject::BadNode,
        Reject::UnknownPeer,
        Reject::BadMac,
        Reject::Replay,
        Reject::Skew,
        Reject::NotAllowed,
        Reject::TooManyNodes,
        Reject::Amplification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::BadJson => "bad-json",
            Reject::BadField => "bad-field",
            Reject::TooLarge => "too-large",
            Reject::UnknownType => "unknown-type",
            Reject::UnexpectedType => "unexpected-type",
            Reject::BadNode => "bad-node",
            Reject::UnknownPeer => "unknown-peer",
            Reject::BadMac => "bad-mac",
            Reject::Replay => "replay",
            Reject::Skew => "skew",
            Reject::NotAllowed => "not-allowed",
            Reject::TooManyNodes => "too-many-nodes",
            Reject::Amplification => "amplification",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
