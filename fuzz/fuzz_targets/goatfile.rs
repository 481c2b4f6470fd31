//! The goatfile parser on any bytes: never panics; errors are printable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = goat::goatfile::parse(data) {
        assert!(!e.0.chars().any(char::is_control), "{:?}", e.0);
    }
});
