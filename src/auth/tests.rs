use super::*;
use proptest::prelude::*;

fn keys(text: &str) -> Keys {
    Keys::parse(text).unwrap()
}

/// A codec that signs, with a test key: for the tests of what signs and
/// verifies elsewhere (replies, answers).
pub(crate) fn signing_codec() -> Codec {
    Codec::new(Some(keys("0123456789abcdef0123456789abcdef")))
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

/// A relay request: the largest probe there is.
fn relay_request() -> Message<'static> {
    Message::Probe(wire::Probe {
        node: "poller".into(),
        nonce: 7,
        target: Some("127.0.0.1:26723".parse().unwrap()),
    })
}

#[test]
fn requests_are_padded_to_exactly_the_request_length() {
    let probe = relay_request();
    for codec in [Codec::new(None), signing_codec()] {
        let mut buf = Vec::new();
        codec.encode_request(&probe, &mut buf).unwrap();
        // A relay refuses anything shorter (amplification).
        assert_eq!(buf.len(), REQUEST_LEN, "keyed: {}", codec.is_keyed());
        assert!(matches!(codec.decode(&buf), Ok(Message::Probe(_))));
    }
}

#[test]
fn a_request_sealed_after_encoding_is_the_request_encoded() {
    let probe = Message::Probe(wire::Probe {
        node: "poller".into(),
        nonce: 7,
        target: None,
    });
    let keyed = Codec::new(Some(keys("0123456789abcdef0123456789abcdef")));
    for codec in [Codec::new(None), keyed] {
        let (mut whole, mut sealed) = (Vec::new(), Vec::new());
        codec.encode_request(&probe, &mut whole).unwrap();
        wire::encode(&probe, &mut sealed).unwrap();
        codec.seal_request(&mut sealed).unwrap();
        assert_eq!(whole, sealed, "keyed: {}", codec.is_keyed());
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
    // A directory's mode is no advice to give.
    let err = Keys::load(&dir).unwrap_err().to_string();
    assert!(
        err.contains("is a directory") && !err.contains("chmod"),
        "{err}"
    );
}

#[test]
fn a_codec_reads_its_key_file_again_and_keeps_its_keys_when_it_cannot() {
    let dir = std::env::temp_dir().join(format!("hb-reload-keys-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key");
    let write = |text: &str, mode: u32| {
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    let (a, b) = ("key-a-0123456789abcdef", "key-b-0123456789abcdef");
    write(a, 0o600);
    let mut codec = Codec::load(&path).unwrap();
    let signed_by = |key: &str| {
        let mut msg = br#"{"type":"beat","node":"n","seq":1}"#.to_vec();
        keys(key).sign(&mut msg);
        msg
    };
    assert!(codec.decode(&signed_by(a)).is_ok());
    assert!(matches!(codec.reload_keys(), Some(Ok(false))), "unchanged");
    write(b, 0o600);
    assert!(matches!(codec.reload_keys(), Some(Ok(true))), "reloaded");
    assert!(codec.decode(&signed_by(b)).is_ok());
    assert_eq!(codec.decode(&signed_by(a)).err(), Some(Reject::BadMac));
    // Unusable now: key b stays.
    write(a, 0o644);
    assert!(matches!(
        codec.reload_keys(),
        Some(Err(KeyError::Permissions { .. }))
    ));
    assert!(codec.decode(&signed_by(b)).is_ok());
    fs::remove_dir_all(&dir).unwrap();
    // A codec without a key file has nothing to read again.
    assert!(Codec::new(Some(keys(a))).reload_keys().is_none());
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

/// What a codec makes of `bytes`, as text to compare: the message
/// re-encoded, or why it was refused.
fn read_as(result: Result<Message<'_>, Reject>) -> String {
    match result {
        Ok(msg) => serde_json::to_string(&msg).unwrap(),
        Err(why) => format!("refused: {}", why.as_str()),
    }
}

#[test]
fn a_request_read_without_its_padding_is_the_same_request() {
    let probe = relay_request();
    for codec in [Codec::new(None), signing_codec()] {
        let (mut buf, mut scratch) = (Vec::new(), Vec::new());
        codec.encode_request(&probe, &mut buf).unwrap();
        let whole = read_as(codec.decode(&buf));
        assert!(whole.starts_with(r#"{"type":"probe""#), "{whole}");
        assert_eq!(read_as(codec.decode_unpadded(&buf, &mut scratch)), whole);
        // It was read from the copy, without the padding.
        assert!(scratch.len() < 200, "{} bytes", scratch.len());
        // A changed byte in the padding fails the signature as before.
        buf[200] = b'\t';
        assert_eq!(
            read_as(codec.decode_unpadded(&buf, &mut scratch)),
            read_as(codec.decode(&buf))
        );
    }
}

proptest! {
    /// Whatever the bytes before a run of spaces and a closing brace (or
    /// a signature), the message read without the spaces is the one read
    /// with them, or both are refused for the same reason.
    #[test]
    fn reading_without_padding_changes_nothing(
        head in proptest::collection::vec(
            prop_oneof![Just(b'"'), Just(b'\\'), Just(b' '), Just(b':'), Just(b','), Just(b'{'),
                        Just(b'}'), Just(b'1'), Just(b'a'), any::<u8>()],
            0..40),
        prefix in prop_oneof![
            Just(r#"{"type":"probe","node":"p","nonce":1"#.to_string()),
            Just(r#"{"type":"probe","node":"p","nonce":"#.to_string()),
            Just(r#"{"type":"probe","node":"p ,"nonce":1"#.to_string()),
            Just(String::new()),
        ],
        spaces in 0..600usize,
        keyed in any::<bool>(),
    ) {
        let mut bytes = prefix.into_bytes();
        bytes.extend_from_slice(&head);
        bytes.resize(bytes.len() + spaces, b' ');
        bytes.push(b'}');
        let codec = Codec::new(keyed.then(|| keys("0123456789abcdef")));
        codec.seal(&mut bytes).ok();
        let mut scratch = Vec::new();
        prop_assert_eq!(
            read_as(codec.decode_unpadded(&bytes, &mut scratch)),
            read_as(codec.decode(&bytes))
        );
    }
}
