//! Authenticated messages: HMAC-SHA256 over each datagram, with keys from
//! a file.
//!
//! A signed message is the JSON object with one more field, last:
//! `,"mac":"<64 hex digits>"}`. The MAC covers the object as it would be
//! without that field (the bytes before `,"mac"` followed by `}`), so the
//! decoder reads a signed message like any other (the `mac` field is
//! simply unknown to it) and verification copies nothing.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire::{self, Message, Reject, TooLarge, MAX_DATAGRAM};

type HmacSha256 = Hmac<Sha256>;

const MAC_PREFIX: &[u8] = br#","mac":""#;
/// `,"mac":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = MAC_PREFIX.len() + 64 + 2;
/// Shorter keys are refused: they are guessable.
pub const MIN_KEY_LEN: usize = 16;

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading key file {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "key file {path} is readable by group or others (mode {mode:04o}); run: chmod 600 {path}"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is a directory; name the file that holds the keys")]
    Directory { path: PathBuf },
    #[error("key file {path} holds no key (one per line; '#' starts a comment)")]
    Empty { path: PathBuf },
    #[error("key file {path}, line {line}: a key is at least {MIN_KEY_LEN} bytes (try: openssl rand -hex 32)")]
    Short { path: PathBuf, line: usize },
}

/// The keys of a key file: the first signs, any of them verifies, so keys
/// rotate without a flag day (add the new key second everywhere, then
/// move it first, then drop the old one).
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.keys.len())
    }
}

impl Keys {
    /// Reads a key file: one key per line (its bytes, surrounding white
    /// space trimmed), `#` comments. Refused when group or others may read
    /// it, as ssh does with private keys.
    pub fn load(path: &Path) -> Result<Keys, KeyError> {
        let read = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(read)?;
        if meta.is_dir() {
            return Err(KeyError::Directory {
                path: path.to_owned(),
            });
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 && !is_credential(path) {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
                mode: mode & 0o7777,
            });
        }
        let text = fs::read_to_string(path).map_err(read)?;
        Keys::parse(&text).map_err(|e| match e {
            KeyError::Empty { .. } => KeyError::Empty {
                path: path.to_owned(),
            },
            KeyError::Short { line, .. } => KeyError::Short {
                path: path.to_owned(),
                line,
            },
            other => other,
        })
    }

    fn parse(text: &str) -> Result<Keys, KeyError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let key = line.split('#').next().unwrap_or("").trim();
            if key.is_empty() {
                continue;
            }
            if key.len() < MIN_KEY_LEN {
                return Err(KeyError::Short {
                    path: PathBuf::new(),
                    line: i + 1,
                });
            }
            keys.push(key.as_bytes().to_vec());
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                path: PathBuf::new(),
            });
        }
        Ok(Keys { keys })
    }

    /// Signs an encoded JSON object in place with the first key.
    pub fn sign(&self, message: &mut Vec<u8>) {
        debug_assert_eq!(message.last(), Some(&b'}'));
        let mac = tag(&self.keys[0], &message[..message.len() - 1]);
        message.pop();
        message.extend_from_slice(MAC_PREFIX);
        for b in mac {
            message.extend_from_slice(&HEX[usize::from(b >> 4)..][..1]);
            message.extend_from_slice(&HEX[usize::from(b & 15)..][..1]);
        }
        message.extend_from_slice(b"\"}");
    }

    /// Checks a signed message against every key.
    pub fn verify(&self, message: &[u8]) -> Result<(), Reject> {
        let n = message.len();
        if n < SUFFIX_LEN + 2 || !message.ends_with(b"\"}") {
            return Err(Reject::BadMac);
        }
        let (body, suffix) = message.split_at(n - SUFFIX_LEN);
        let Some(hex) = suffix.strip_prefix(MAC_PREFIX) else {
            return Err(Reject::BadMac);
        };
        let mut mac = [0u8; 32];
        for (i, pair) in hex[..64].chunks(2).enumerate() {
            mac[i] = (nibble(pair[0]).ok_or(Reject::BadMac)? << 4)
                | nibble(pair[1]).ok_or(Reject::BadMac)?;
        }
        let valid = self.keys.iter().any(|key| {
            let mut h = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
            h.update(body);
            h.update(b"}");
            // Constant time: a forger learns nothing from timing.
            h.verify_slice(&mac).is_ok()
        });
        if valid {
            Ok(())
        } else {
            Err(Reject::BadMac)
        }
    }
}

/// Requests are padded to this length: a reply with health fits.
pub const REQUEST_LEN: usize = 512;

/// Encodes and decodes datagrams, signing and verifying them when a key
/// is set; without one, exactly [`wire::encode`] and [`wire::decode`].
#[derive(Debug, Clone, Default)]
pub struct Codec {
    keys: Option<Keys>,
    /// The file the keys came from, read again by [`Codec::reload_keys`].
    file: Option<PathBuf>,
}

impl Codec {
    pub fn new(keys: Option<Keys>) -> Self {
        Codec { keys, file: None }
    }

    /// A codec with the keys of a key file ([`Keys::load`]), which it can
    /// read again.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Codec {
            keys: Some(Keys::load(path)?),
            file: Some(path.to_owned()),
        })
    }

    /// Reads the key file again (SIGHUP), so keys rotate without a
    /// restart: from now on its first key signs and any of its keys
    /// verifies. Says whether the keys changed; None for a codec without
    /// a key file. A file that cannot be used leaves the keys as they were:
    /// a typo while rotating must not open the door nor stop the service.
    pub fn reload_keys(&mut self) -> Option<Result<bool, KeyError>> {
        let path = self.file.as_deref()?;
        Some(Keys::load(path).map(|keys| {
            let changed = self.keys.as_ref() != Some(&keys);
            self.keys = Some(keys);
            changed
        }))
    }

    /// Whether messages are signed and only signed ones accepted.
    pub fn is_keyed(&self) -> bool {
        self.keys.is_some()
    }

    /// Encodes (and signs) `msg` into `buf`, within [`MAX_DATAGRAM`].
    pub fn encode(&self, msg: &Message<'_>, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        wire::encode(msg, buf)?;
        self.seal(buf)
    }

    /// Encodes a request that asks for an answer (a probe), padded to
    /// [`REQUEST_LEN`] (then signed, with a key): a responder never answers
    /// with more bytes than it was sent, so it cannot amplify a spoofed
    /// flood, nor a replayed signed request.
    pub fn encode_request(&self, msg: &Message<'_>, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        self.encode_padded(msg, REQUEST_LEN, buf)
    }

    /// Encodes (and signs) `msg`, padded so that the datagram is at least
    /// `len` bytes: a request as long as the answer it asks for may be
    /// answered, by a responder that never answers with more.
    pub fn encode_padded(
        &self,
        msg: &Message<'_>,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> Result<(), TooLarge> {
        wire::encode(msg, buf)?;
        self.seal_padded(len, buf)
    }

    /// Pads an already encoded request to [`REQUEST_LEN`] and signs it, as
    /// [`Codec::encode_request`] does: for requests encoded by hand
    /// ([`wire::ProbeHead`]).
    pub fn seal_request(&self, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        self.seal_padded(REQUEST_LEN, buf)
    }

    /// Pads an encoded message to at least `len` bytes once signed, then
    /// signs it.
    fn seal_padded(&self, len: usize, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        // Signing replaces the closing brace with the MAC suffix.
        let room = if self.is_keyed() {
            (len + 1).saturating_sub(SUFFIX_LEN)
        } else {
            len
        };
        if buf.len() < room {
            // White space before the closing brace: the same JSON object.
            let brace = buf.pop().expect("an encoded object");
            buf.resize(room - 1, b' ');
            buf.push(brace);
        }
        self.seal(buf)
    }

    /// Signs an already encoded message (when keyed), within the limit.
    pub fn seal(&self, buf: &mut Vec<u8>) -> Result<(), TooLarge> {
        if let Some(keys) = &self.keys {
            keys.sign(buf);
            if buf.len() > MAX_DATAGRAM {
                return Err(TooLarge { len: buf.len() });
            }
        }
        Ok(())
    }

    /// Decodes a datagram; with a key, only a correctly signed one.
    pub fn decode<'a>(&self, datagram: &'a [u8]) -> Result<Message<'a>, Reject> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Reject::TooLarge);
        }
        if let Some(keys) = &self.keys {
            keys.verify(datagram)?;
        }
        wire::decode(datagram)
    }

    /// Decodes a datagram as [`Codec::decode`] does, reading a padded
    /// request without its padding: the same message, copied into
    /// `scratch` without the spaces before its closing brace (or its
    /// signature). A responder answering a large round reads hundreds of
    /// blanks a probe otherwise, one by one: most of what decoding costs.
    pub fn decode_unpadded<'a>(
        &self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<Message<'a>, Reject> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Reject::TooLarge);
        }
        // The signature is checked over the datagram as sent, padding
        // and all; what follows the padding is its suffix, or the brace.
        let tail = match &self.keys {
            Some(keys) => {
                keys.verify(datagram)?;
                SUFFIX_LEN
            }
            None if datagram.last() == Some(&b'}') => 1,
            None => return wire::decode(datagram),
        };
        let end = datagram.len() - tail;
        let start = spaces_before(datagram, end);
        // Only white space between a value and the closing brace (or the
        // `,"mac"` after it) goes: outside any string in valid JSON, and
        // invalid JSON stays invalid without it.
        if end - start < PADDING_WORTH_SKIPPING {
            return wire::decode(datagram);
        }
        scratch.clear();
        scratch.extend_from_slice(&datagram[..start]);
        scratch.extend_from_slice(&datagram[end..]);
        wire::decode(scratch)
    }
}

/// Fewer spaces than this are read as they are: a copy would cost more.
const PADDING_WORTH_SKIPPING: usize = 32;

/// Where the run of spaces that ends at `end` of `bytes` begins: eight
/// bytes at a time, then one.
fn spaces_before(bytes: &[u8], end: usize) -> usize {
    let mut start = end;
    while start >= 8 && bytes[start - 8..start] == [b' '; 8] {
        start -= 8;
    }
    while start > 0 && bytes[start - 1] == b' ' {
        start -= 1;
    }
    start
}

/// A file systemd handed over as a credential (`LoadCredential=`): it
/// lives in the service's own read-only credentials directory, readable
/// only by the service, though systemd 256 and later show it as mode 0440
/// (access is given by an ACL) and it cannot be changed with chmod.
fn is_credential(path: &Path) -> bool {
    std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|dir| {
        let dir = Path::new(&dir);
        !dir.as_os_str().is_empty() && path.starts_with(dir) && path.parent() == Some(dir)
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// HMAC of `body_without_brace` followed by `}`.
fn tag(key: &[u8], body_without_brace: &[u8]) -> [u8; 32] {
    let mut h = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    h.update(body_without_brace);
    h.update(b"}");
    h.finalize().into_bytes().into()
}

#[cfg(test)]
pub(crate) mod tests;
