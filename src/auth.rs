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
    #[error("key file {path} holds no key (one per line; '#' starts a comment)")]
    Empty { path: PathBuf },
    #[error("key file {path}, line {line}: a key is at least {MIN_KEY_LEN} bytes (try: openssl rand -hex 32)")]
    Short { path: PathBuf, line: usize },
}

/// The keys of a key file: the first signs, any of them verifies, so keys
/// rotate without a flag day (add the new key second everywhere, then
/// move it first, then drop the old one).
#[derive(Clone)]
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
        let mode = fs::metadata(path).map_err(read)?.permissions().mode();
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
}

impl Codec {
    pub fn new(keys: Option<Keys>) -> Self {
        Codec { keys }
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
        wire::encode(msg, buf)?;
        // Signing replaces the closing brace with the MAC suffix.
        let room = if self.is_keyed() {
            REQUEST_LEN + 1 - SUFFIX_LEN
        } else {
            REQUEST_LEN
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(text: &str) -> Keys {
        Keys::parse(text).unwrap()
    }

    #[test]
    fn signed_messages_verify_and_still_decode() {
        let k = keys("0123456789abcdef0123456789abcdef\n");
        let mut msg = br#"{"type":"beat","node":"web-1","seq":1}"#.to_vec();
        k.sign(&mut msg);
        assert!(msg.ends_with(b"\"}"));
        assert_eq!(k.verify(&msg), Ok(()));
        let crate::wire::Message::Beat(b) = crate::wire::decode(&msg).unwrap() else {
            panic!()
        };
        assert_eq!(b.node, "web-1");
    }

    #[test]
    fn requests_are_padded_to_exactly_the_request_length() {
        let probe = Message::Probe(wire::Probe {
            node: "poller".into(),
            nonce: 7,
            target: Some("127.0.0.1:26723".parse().unwrap()),
        });
        let keyed = Codec::new(Some(keys("0123456789abcdef0123456789abcdef")));
        for codec in [Codec::new(None), keyed] {
            let mut buf = Vec::new();
            codec.encode_request(&probe, &mut buf).unwrap();
            // A relay refuses anything shorter (amplification).
            assert_eq!(buf.len(), REQUEST_LEN, "keyed: {}", codec.is_keyed());
            assert!(matches!(codec.decode(&buf), Ok(Message::Probe(_))));
        }
    }

    #[test]
    fn a_changed_byte_or_another_key_fails() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let mut msg = br#"{"type":"beat","node":"web-1","seq":1}"#.to_vec();
        k.sign(&mut msg);
        let mut forged = msg.clone();
        forged[25] = b'2';
        assert_eq!(k.verify(&forged), Err(Reject::BadMac));
        let other = keys("another key, long enough to use");
        assert_eq!(other.verify(&msg), Err(Reject::BadMac));
        assert_eq!(
            k.verify(br#"{"type":"beat","node":"web-1"}"#),
            Err(Reject::BadMac)
        );
        assert_eq!(k.verify(b""), Err(Reject::BadMac));
    }

    #[test]
    fn rotation_signs_with_the_first_and_accepts_any() {
        let old = keys("old-key-0123456789abcdef");
        let both = keys("new-key-0123456789abcdef\n# during rotation\nold-key-0123456789abcdef\n");
        let mut from_old = br#"{"type":"probe","node":"p","nonce":1}"#.to_vec();
        old.sign(&mut from_old);
        assert_eq!(both.verify(&from_old), Ok(()));
        let mut from_new = br#"{"type":"probe","node":"p","nonce":1}"#.to_vec();
        both.sign(&mut from_new);
        assert_eq!(old.verify(&from_new), Err(Reject::BadMac));
    }

    /// The same MAC an operator computes by hand with openssl:
    /// printf %s '{"type":"beat","node":"x"}' | openssl dgst -sha256 -hmac 0123456789abcdef
    #[test]
    fn matches_openssl() {
        let k = keys("0123456789abcdef");
        let mut msg = br#"{"type":"beat","node":"x"}"#.to_vec();
        k.sign(&mut msg);
        let text = String::from_utf8(msg).unwrap();
        let expected = tag(b"0123456789abcdef", br#"{"type":"beat","node":"x""#);
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            text,
            format!(r#"{{"type":"beat","node":"x","mac":"{hex}"}}"#)
        );
    }

    #[test]
    fn key_files_are_checked() {
        assert!(matches!(
            Keys::parse("# nothing\n\n"),
            Err(KeyError::Empty { .. })
        ));
        assert!(matches!(
            Keys::parse("short"),
            Err(KeyError::Short { line: 1, .. })
        ));
        let dir = std::env::temp_dir().join(format!("hb-keys-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keys::load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains("0644"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Keys::load(&path).is_ok());
    }

    proptest! {
        #[test]
        fn verify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let k = keys("0123456789abcdef");
            let _ = k.verify(&bytes);
        }

        #[test]
        fn sign_then_verify(node in "[a-z0-9-]{1,40}", seq in any::<u64>()) {
            let k = keys("0123456789abcdef");
            let mut msg = format!(r#"{{"type":"beat","node":"{node}","seq":{seq}}}"#).into_bytes();
            k.sign(&mut msg);
            prop_assert_eq!(k.verify(&msg), Ok(()));
        }
    }
}
