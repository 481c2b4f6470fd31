//! Content decoding: never panics, never exceeds its cap.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let enc: &[u8] = match sel % 4 {
        0 => b"br",
        1 => b"gzip",
        2 => b"deflate",
        _ => b"",
    };
    let cap = 1 << 20;
    if let Ok(out) = goat::inscription::content::decode(body, Some(enc), cap) {
        assert!(out.len() as u64 <= cap);
    }
});
