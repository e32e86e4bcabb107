#![no_main]
//! Any bytes through a keyed receiver (`auth::Codec::decode`: the MAC
//! suffix split, hex decoding, the HMAC check against every key, then the
//! wire decode) never panic. A JSON object sealed with the first key
//! always passes the MAC check (it may still be refused as a message), and
//! with one byte of it changed never does.

use std::sync::OnceLock;

use hb::auth::Codec;
use hb::wire::Reject;
use hb_fuzz::keys;
use libfuzzer_sys::fuzz_target;

/// Two keys, so rotation (any key verifies) is exercised too.
fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let keys = keys("fuzzing-key-number-one\nfuzzing-key-number-two\n");
        Codec::new(Some(keys))
    })
}

fuzz_target!(|data: &[u8]| {
    let codec = codec();
    let _ = codec.decode(data);
    // Sealing takes an encoded message: an object with at least one field
    // (`{...}`, the MAC is added as its last field).
    if data.len() < 3 || data[0] != b'{' || data[data.len() - 1] != b'}' {
        return;
    }
    let mut sealed = data.to_vec();
    if codec.seal(&mut sealed).is_err() {
        return; // too large once signed
    }
    assert_ne!(
        codec.decode(&sealed).err(),
        Some(Reject::BadMac),
        "sealed, yet refused as bad-mac"
    );
    let flip = data.len() / 2;
    sealed[flip] ^= 1;
    assert_eq!(
        codec.decode(&sealed).err(),
        Some(Reject::BadMac),
        "tampered, yet passed the MAC check"
    );
});
