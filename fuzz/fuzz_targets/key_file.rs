#![no_main]
//! Any bytes as a key file (`auth::Keys::load`, mode 0600): loading never
//! panics. A file is refused exactly when it is not UTF-8, holds no key,
//! or holds a key shorter than 16 bytes (and then the error names the
//! first such line); a key is a line's text before any `#`, white space
//! trimmed. A file that loads holds one key per such line; the first key
//! signs, and with more keys any verifies: what a file of the first key
//! alone seals passes the whole file's MAC check and the other way round,
//! and a sealed message with one byte changed never does.

use std::sync::OnceLock;

use hb::auth::{Codec, KeyError, Keys, MIN_KEY_LEN};
use hb::wire::Reject;
use hb_fuzz::Scratch;
use libfuzzer_sys::fuzz_target;

fn load(file: &Scratch, text: &[u8]) -> Result<Keys, KeyError> {
    file.write(text);
    Keys::load(file.path())
}

/// A valid beat: sealed, it must verify.
const BEAT: &[u8] = br#"{"type":"beat","node":"a","seq":1}"#;

fuzz_target!(|data: &[u8]| {
    static FILES: OnceLock<(Scratch, Scratch)> = OnceLock::new();
    let (all, first) = FILES.get_or_init(|| (Scratch::create(), Scratch::create()));
    let loaded = load(all, data);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(
            matches!(loaded, Err(KeyError::Read { .. })),
            "not UTF-8: {loaded:?}"
        );
        return;
    };
    let keys: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, key)| !key.is_empty())
        .collect();
    let short = keys.iter().find(|(_, key)| key.len() < MIN_KEY_LEN);
    let loaded = match (loaded, short, keys.first()) {
        (Err(KeyError::Short { line, .. }), Some(&(first_short, _)), _) => {
            assert_eq!(line, first_short);
            return;
        }
        (Err(KeyError::Empty { .. }), None, None) => return,
        (Ok(loaded), None, Some(_)) => loaded,
        (loaded, short, _) => panic!("{loaded:?} with keys {keys:?}, short: {short:?}"),
    };
    assert_eq!(format!("{loaded:?}"), format!("Keys({} keys)", keys.len()));

    let whole = Codec::new(Some(loaded));
    let only_first = Codec::new(Some(
        load(first, keys[0].1.as_bytes()).expect("the first key"),
    ));
    for (seal, check) in [(&only_first, &whole), (&whole, &only_first)] {
        let mut sealed = BEAT.to_vec();
        seal.seal(&mut sealed).expect("a short beat seals");
        assert!(
            check.decode(&sealed).is_ok(),
            "signed by the first key, refused"
        );
        sealed[BEAT.len() / 2] ^= 1;
        assert_eq!(check.decode(&sealed).err(), Some(Reject::BadMac));
    }
});
