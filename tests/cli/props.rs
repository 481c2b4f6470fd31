//! Bounded property runs over every parser that takes hostile input: the
//! envelope parser, content decoding, the goatfile parser, the magnet parser
//! and the text sanitizer. They never panic, stay within their caps, and
//! never produce messages with control characters. (The open-ended runs are
//! the cargo-fuzz targets in fuzz/.)

use goat::goatfile::{self, magnet::Magnet};
use goat::inscription::{content, envelope, Inscription};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() }
}

/// Script bytes biased towards envelopes: fragments ord cares about, glued
/// together with random bytes.
fn script_bytes() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just(vec![0x00, 0x63, 0x03, b'o', b'r', b'd']), // OP_FALSE OP_IF "ord"
        Just(vec![0x68]),                               // OP_ENDIF
        Just(vec![0x00]),                               // OP_FALSE / body tag
        Just(vec![0x51]),                               // OP_1
        Just(vec![0x4f]),                               // OP_1NEGATE
        Just(vec![0x4d, 0xff, 0xff]),                   // PUSHDATA2 running off the end
        (0u8..=80).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n as usize).prop_map(move |d| {
            let mut v = vec![n];
            v.extend(d);
            v
        })),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(fragment, 0..24).prop_map(|f| f.concat())
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn envelopes_never_panic(script in script_bytes(), annex in any::<bool>(), cb_len in 0usize..40) {
        let mut witness = vec![vec![1u8; 64], script.clone(), vec![0xc0; cb_len]];
        if annex {
            witness.push(vec![0x50]);
        }
        let tx = bitcoin::Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn { witness: bitcoin::Witness::from_slice(&witness), ..Default::default() }],
            output: vec![],
        };
        let found = Inscription::from_transaction(&tx);
        let raw = envelope::from_tapscript(bitcoin::Script::from_bytes(&script), 0);
        prop_assert!(found.len() <= raw.len());
        for i in &found {
            // what goat shows of it is printable
            if let Some(ct) = i.content_type_str() { prop_assert!(no_controls(&ct)); }
            if let Some(ce) = i.content_encoding_str() { prop_assert!(no_controls(&ce)); }
            let _ = i.pointer_value();
            let _ = i.delegate_id();
            let _ = i.parent_ids();
        }
    }

    #[test]
    fn content_decoding_stays_under_its_cap(body in proptest::collection::vec(any::<u8>(), 0..2048), enc in prop_oneof![Just("br"), Just("gzip"), Just("deflate"), Just(""), Just("zstd\x1b[2J")], cap in 0u64..4096) {
        match content::decode(&body, Some(enc.as_bytes()), cap) {
            Ok(out) => prop_assert!(out.len() as u64 <= cap),
            Err(e) => prop_assert!(no_controls(&e.message), "{:?}", e.message),
        }
    }

    #[test]
    fn goatfile_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = goatfile::parse(&bytes) {
            prop_assert!(no_controls(&e.0), "{:?}", e.0);
        }
    }

    #[test]
    fn goatfile_parser_on_yaml_shaped_text(
        name in "[a-z\\x00-\\x1f\\u{202e}é./ ]{0,12}",
        path in "[a-z\\x1b/.é]{0,12}",
        size in any::<i64>(),
        sha in "[0-9a-fA-Fz\\x07]{0,70}",
        extra in prop_oneof![Just(""), Just("&a [*a, *a]"), Just("!!binary AAAA"), Just("{x: [[[[[[[[]]]]]]]]}")],
    ) {
        let yaml = format!(
            "goat: 1\nname: {name:?}\nentries:\n  - name: {name:?}\n    magnet: \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\"\n    files:\n      - path: {path:?}\n        size: {size}\n        sha256: {sha:?}\n    note: {extra}\n"
        );
        match goatfile::parse(yaml.as_bytes()) {
            Ok(g) => {
                for e in &g.entries {
                    prop_assert!(!e.name.is_empty());
                    for f in &e.files {
                        prop_assert!(!f.path.contains(".."));
                    }
                }
            }
            Err(e) => prop_assert!(no_controls(&e.0), "{:?}", e.0),
        }
    }

    #[test]
    fn goatfile_messages_are_printable_whatever_yaml_escapes_say(
        frags in proptest::collection::vec(prop_oneof![
            Just("\\e"), Just("\\a"), Just("\\x1b"), Just("\\x9b"), Just("\\u202e"), Just("\\0"), Just("\\r"), Just("[2J"), Just("x"),
        ], 1..8),
        at in 0usize..4,
    ) {
        // YAML's double-quoted escapes make control characters from
        // printable bytes; serde's messages quote keys and values.
        let q = format!("\"{}\"", frags.concat());
        let yaml = match at {
            0 => format!("goat: 1\n{q}: 1\nentries: []\n"),
            1 => format!("goat: {q}\n"),
            2 => format!("goat: 1\nentries:\n  - name: {q}\n    magnet: {q}\n"),
            _ => format!("goat: 1\nentries: {q}\n"),
        };
        if let Err(e) = goatfile::parse(yaml.as_bytes()) {
            prop_assert!(no_controls(&e.0), "{:?}", e.0);
            prop_assert!(!e.0.contains('\u{202e}'), "{:?}", e.0);
        }
    }

    #[test]
    fn magnet_parser_never_panics(tail in "[a-zA-Z0-9%:=&?./\\x00-\\x1f]{0,120}", xt in prop_oneof![
        Just("urn:btih:0123456789abcdef0123456789abcdef01234567".to_string()),
        Just("urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH".to_string()),
        Just(format!("urn:btmh:1220{}", "ab".repeat(32))),
        "[a-z:0-9]{0,60}",
    ]) {
        let uri = format!("magnet:?xt={xt}&{tail}");
        match Magnet::parse(&uri) {
            Ok(m) => prop_assert!(m.btih.as_ref().is_some_and(|h| h.len() == 40)),
            Err(e) => prop_assert!(no_controls(&e.to_string()), "{:?}", e),
        }
    }

    #[test]
    fn printable_is_printable_and_bounded(s in any::<String>(), max in 0usize..64) {
        let p = goat::text::printable(&s, max);
        prop_assert!(no_controls(&p));
        prop_assert!(p.chars().count() <= max);
    }
}
