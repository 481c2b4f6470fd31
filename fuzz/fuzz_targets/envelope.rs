//! Any witness stack: goat's envelope parser must not panic, and what it
//! would print of an inscription must be printable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks how many witness elements the rest is cut into.
    let Some((&n, rest)) = data.split_first() else { return };
    let parts = (n % 5) as usize + 1;
    let step = rest.len() / parts + 1;
    let witness: Vec<&[u8]> = rest.chunks(step).collect();
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn { witness: bitcoin::Witness::from_slice(&witness), ..Default::default() }],
        output: vec![],
    };
    for i in goat::inscription::Inscription::from_transaction(&tx) {
        for s in [i.content_type_str(), i.content_encoding_str()].into_iter().flatten() {
            assert!(!s.chars().any(char::is_control));
        }
        let _ = (i.pointer_value(), i.delegate_id(), i.parent_ids(), i.curses());
    }
    let _ = goat::inscription::envelope::from_tapscript(bitcoin::Script::from_bytes(rest), 0);
});
