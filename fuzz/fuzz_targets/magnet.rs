//! The magnet parser on any text: never panics; errors are printable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match goat::goatfile::magnet::Magnet::parse(s) {
        Ok(m) => assert!(m.btih.is_some()),
        Err(e) => assert!(!e.chars().any(char::is_control), "{e:?}"),
    }
});
