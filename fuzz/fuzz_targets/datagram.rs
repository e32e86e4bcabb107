#![no_main]
//! Any bytes a datagram (or a recorded line) can carry: decoding never
//! panics; `decode_record` (a recorded line) and `decode` (a datagram)
//! agree: the same message when both accept, the same reason when both
//! refuse, and only a datagram over the size limit told apart; and
//! whatever decodes re-encodes (or is refused as too large) and then
//! decodes again to the same bytes.

use hb::wire::{decode, decode_record, encode, Reject, MAX_DATAGRAM};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let too_large = |why: &Reject| *why == Reject::TooLarge && data.len() > MAX_DATAGRAM;
    let record = decode_record(data);
    let datagram = decode(data);
    match (&record, &datagram) {
        (Ok(r), Ok(d)) => {
            let (r, d) = (serde_json::to_string(r), serde_json::to_string(d));
            assert_eq!(r.unwrap(), d.unwrap(), "decode_record and decode disagree");
        }
        (Err(r), Err(d)) => assert!(r == d || too_large(d), "{r} vs {d}"),
        (Ok(_), Err(d)) => assert!(too_large(d), "a record decodes, as a datagram: {d}"),
        (Err(r), Ok(_)) => panic!("a datagram decodes, as a record it is refused ({r})"),
    }
    let Ok(msg) = datagram else { return };
    let mut buf = Vec::new();
    if encode(&msg, &mut buf).is_err() {
        return; // TooLarge: a View's empty lists, say, can add bytes
    }
    let again = decode(&buf).expect("an encoded message decodes");
    let mut buf2 = Vec::new();
    encode(&again, &mut buf2).expect("a re-decoded message encodes");
    assert_eq!(buf, buf2, "encode(decode(encode(m))) == encode(m)");
});
