#![no_main]
//! Any bytes a datagram (or a recorded line) can carry: decoding never
//! panics, and whatever decodes re-encodes (or is refused as too large) and
//! then decodes again to the same bytes.

use hb::wire::{decode, decode_record, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_record(data);
    let Ok(msg) = decode(data) else { return };
    let mut buf = Vec::new();
    if encode(&msg, &mut buf).is_err() {
        return; // TooLarge: a View's empty lists, say, can add bytes
    }
    let again = decode(&buf).expect("an encoded message decodes");
    let mut buf2 = Vec::new();
    encode(&again, &mut buf2).expect("a re-decoded message encodes");
    assert_eq!(buf, buf2, "encode(decode(encode(m))) == encode(m)");
});
