//! Basic auth: users and their bcrypt hashes, as Prometheus' web
//! configuration gives them.
//!
//! bcrypt is slow on purpose (tens of milliseconds a check at cost 10),
//! which makes it a door a stranger could keep busy: checks run on the
//! web side's one blocking thread, never on the runtime that serves the
//! other clients, and credentials that were right once are remembered as
//! their SHA-256 for [`REMEMBERED`], so a scraper's requests cost a hash,
//! not a bcrypt, each. An unknown user is checked against a hash of its
//! own all the same, so the time an answer takes does not tell which
//! users exist; remembered credentials are compared in constant time.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long right credentials are remembered after their bcrypt check.
pub const REMEMBERED: Duration = Duration::from_secs(300);

/// The users of a web configuration.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// Per user: the SHA-256 of the `Authorization` value last found
    /// right, and when. One a user: the memory is bounded by the file.
    verified: Mutex<HashMap<String, ([u8; 32], Instant)>>,
}

/// What a request's `Authorization` header says.
pub struct Credentials {
    user: String,
    password: String,
    digest: [u8; 32],
}

impl Users {
    /// `hashes`: user to bcrypt hash; an entry that is not a bcrypt hash
    /// is an error naming the user.
    pub fn new(hashes: BTreeMap<String, String>) -> anyhow::Result<Users> {
        for (user, hash) in &hashes {
            bcrypt::HashParts::from_str(hash)
                .map_err(|_| anyhow!("{user}: not a bcrypt hash ($2y$...)"))?;
        }
        Ok(Users {
            hashes,
            verified: Mutex::new(HashMap::new()),
        })
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `credentials` were found right within [`REMEMBERED`]:
    /// the cheap check, on the runtime.
    pub fn remembered(&self, credentials: &Credentials) -> bool {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.get(&credentials.user).is_some_and(|(digest, at)| {
            bool::from(digest.ct_eq(&credentials.digest)) && at.elapsed() < REMEMBERED
        })
    }

    /// Whether `credentials` are a user's: the bcrypt check, slow.
    pub fn verify(&self, credentials: &Credentials) -> bool {
        let known = self.hashes.get(&credentials.user);
        // An unknown user costs the same check as a known one.
        let hash = match known {
            Some(hash) => hash.as_str(),
            None => unknown_user_hash(),
        };
        let matches = bcrypt::verify(&credentials.password, hash).unwrap_or(false);
        let right = known.is_some() && matches;
        if right {
            let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = (credentials.digest, Instant::now());
            verified.insert(credentials.user.clone(), entry);
        }
        right
    }
}

impl Credentials {
    /// The user and password of an `Authorization: Basic ...` value.
    pub fn parse(value: &[u8]) -> Option<Credentials> {
        let encoded = value.strip_prefix(b"Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim_ascii())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
            digest: Sha256::digest(value).into(),
        })
    }
}

/// A hash no password matches in practice, at the usual cost, made once.
fn unknown_user_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("hb: no such user", 10).unwrap_or_default())
}
