//! ord's documented envelope cases, on real witness layouts.

use super::*;
use bitcoin::opcodes::all as op;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{absolute::LockTime, transaction::Version, OutPoint, ScriptBuf, Sequence, TxIn, Witness};

/// A push as it appears in an envelope.
enum P<'a> {
    D(&'a [u8]),
    Num(u8),
}

fn push(b: Builder, d: &[u8]) -> Builder {
    b.push_slice(PushBytesBuf::try_from(d.to_vec()).unwrap())
}

fn envelope_script(pre: Builder, items: &[P]) -> Builder {
    let mut b = push(pre.push_opcode(bitcoin::opcodes::OP_FALSE).push_opcode(op::OP_IF), b"ord");
    for it in items {
        b = match it {
            P::D(d) => push(b, d),
            P::Num(n) => b.push_opcode((op::OP_PUSHNUM_1.to_u8() + n - 1).into()),
        };
    }
    b.push_opcode(op::OP_ENDIF)
}

fn control_block() -> Vec<u8> {
    let mut cb = vec![0xc0];
    cb.extend([2u8; 32]);
    cb
}

fn witness(script: ScriptBuf) -> Witness {
    Witness::from_slice(&[vec![7u8; 64], script.into_bytes(), control_block()])
}

fn tx(witnesses: Vec<Witness>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: witnesses
            .into_iter()
            .map(|w| TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: w,
            })
            .collect(),
        output: vec![],
    }
}

fn parse(items: &[P]) -> Vec<Inscription> {
    Inscription::from_transaction(&tx(vec![witness(envelope_script(Builder::new(), items).into_script())]))
}

const CT: &[u8] = &[tag::CONTENT_TYPE];

#[test]
fn content_type_and_body() {
    let i = parse(&[P::D(CT), P::D(b"text/plain"), P::D(b""), P::D(b"hello")]);
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].content_type.as_deref(), Some(&b"text/plain"[..]));
    assert_eq!(i[0].body.as_deref(), Some(&b"hello"[..]));
    assert!(i[0].curses().is_empty());
}

#[test]
fn empty_body_and_no_body() {
    let i = parse(&[P::D(CT), P::D(b"text/plain"), P::D(b"")]);
    assert_eq!(i[0].body.as_deref(), Some(&b""[..]));
    let i = parse(&[P::D(CT), P::D(b"text/plain")]);
    assert_eq!(i[0].body, None);
    // several empty pushes after the body tag are an empty body
    let i = parse(&[P::D(CT), P::D(b"x"), P::D(b""), P::D(b""), P::D(b""), P::D(b"")]);
    assert_eq!(i[0].body.as_deref(), Some(&b""[..]));
}

#[test]
fn no_content_type() {
    let i = parse(&[P::D(b""), P::D(b"foo")]);
    assert_eq!(i[0].content_type, None);
    assert_eq!(i[0].body.as_deref(), Some(&b"foo"[..]));
}

#[test]
fn chunked_body_is_concatenated() {
    let a = vec![b'a'; 520];
    let b = vec![b'b'; 520];
    let i = parse(&[P::D(CT), P::D(b"text/plain"), P::D(b""), P::D(&a), P::D(&b), P::D(b"c")]);
    let body = i[0].body.clone().unwrap();
    assert_eq!(body.len(), 1041);
    assert_eq!(&body[..520], &a[..]);
}

#[test]
fn duplicate_field_keeps_first_value() {
    let i = parse(&[P::D(CT), P::D(b"text/a"), P::D(CT), P::D(b"text/b"), P::D(b""), P::D(b"x")]);
    assert!(i[0].duplicate_field);
    assert_eq!(i[0].content_type.as_deref(), Some(&b"text/a"[..]));
    assert_eq!(i[0].body.as_deref(), Some(&b"x"[..]));
}

#[test]
fn incomplete_field() {
    let i = parse(&[P::D(CT)]);
    assert!(i[0].incomplete_field);
    assert_eq!(i[0].content_type, None);
}

#[test]
fn unknown_odd_tag_ignored_unknown_even_tag_unbinds() {
    let i = parse(&[P::D(&[tag::NOP]), P::D(b"bar"), P::D(CT), P::D(b"t"), P::D(b""), P::D(b"x")]);
    assert!(!i[0].unrecognized_even_field);
    assert_eq!(i[0].content_type.as_deref(), Some(&b"t"[..]));
    let i = parse(&[P::D(&[tag::UNBOUND]), P::D(b"bar"), P::D(b""), P::D(b"x")]);
    assert!(i[0].unrecognized_even_field);
    assert_eq!(i[0].body.as_deref(), Some(&b"x"[..]));
}

#[test]
fn pushnum_is_data_and_a_curse() {
    // tag 1 written as OP_1, body chunk written as OP_16
    let i = parse(&[P::Num(1), P::D(b"text/plain"), P::D(b""), P::Num(16)]);
    assert!(i[0].pushnum);
    assert_eq!(i[0].content_type.as_deref(), Some(&b"text/plain"[..]));
    assert_eq!(i[0].body.as_deref(), Some(&[16u8][..]));
}

#[test]
fn envelope_after_other_script_and_before_checksig() {
    let pre = Builder::new().push_slice([3u8; 32]).push_opcode(op::OP_CHECKSIG);
    let script = envelope_script(pre, &[P::D(CT), P::D(b"t"), P::D(b""), P::D(b"ok")])
        .push_opcode(op::OP_CHECKSIG)
        .into_script();
    let i = Inscription::from_transaction(&tx(vec![witness(script)]));
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].body.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn annex_present() {
    let script = envelope_script(Builder::new(), &[P::D(b""), P::D(b"annexed")]).into_script();
    let w = Witness::from_slice(&[vec![7u8; 64], script.into_bytes(), control_block(), vec![0x50, 1, 2]]);
    let i = Inscription::from_transaction(&tx(vec![w]));
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].body.as_deref(), Some(&b"annexed"[..]));
}

#[test]
fn key_path_spend_is_ignored() {
    let script = envelope_script(Builder::new(), &[P::D(b""), P::D(b"x")]).into_script();
    // a single element witness is a key-path spend: no script at all
    let i = Inscription::from_transaction(&tx(vec![Witness::from_slice(&[script.into_bytes()])]));
    assert!(i.is_empty());
}

#[test]
fn several_envelopes_per_input_and_per_transaction() {
    let s1 = envelope_script(Builder::new(), &[P::D(b""), P::D(b"a")]);
    let s1 = envelope_script(s1, &[P::D(b""), P::D(b"b")]).into_script();
    let s2 = envelope_script(Builder::new(), &[P::D(b""), P::D(b"c")]).into_script();
    let i = Inscription::from_transaction(&tx(vec![witness(s1), Witness::new(), witness(s2)]));
    let bodies: Vec<_> = i.iter().map(|i| (i.input, i.body.clone().unwrap())).collect();
    assert_eq!(bodies, vec![(0, b"a".to_vec()), (0, b"b".to_vec()), (2, b"c".to_vec())]);
}

#[test]
fn no_endif_or_other_opcode_is_no_envelope() {
    let script =
        push(Builder::new().push_opcode(bitcoin::opcodes::OP_FALSE).push_opcode(op::OP_IF), b"ord").into_script();
    assert!(Inscription::from_transaction(&tx(vec![witness(script)])).is_empty());
    let script = push(Builder::new().push_opcode(bitcoin::opcodes::OP_FALSE).push_opcode(op::OP_IF), b"ord")
        .push_opcode(op::OP_CHECKSIG)
        .push_opcode(op::OP_ENDIF)
        .into_script();
    assert!(Inscription::from_transaction(&tx(vec![witness(script)])).is_empty());
}

#[test]
fn wrong_protocol_is_ignored_and_stutter_is_recorded() {
    let s = push(Builder::new().push_opcode(bitcoin::opcodes::OP_FALSE).push_opcode(op::OP_IF), b"xyz")
        .push_opcode(op::OP_ENDIF)
        .into_script();
    assert!(Inscription::from_transaction(&tx(vec![witness(s)])).is_empty());
    let pre = Builder::new().push_opcode(bitcoin::opcodes::OP_FALSE);
    let s = envelope_script(pre, &[P::D(b""), P::D(b"x")]).into_script();
    let i = Inscription::from_transaction(&tx(vec![witness(s)]));
    assert_eq!(i.len(), 1);
    assert!(i[0].stutter);
}

#[test]
fn delegate_pointer_and_parents() {
    let id: InscriptionId = "2222222222222222222222222222222222222222222222222222222222222222i3".parse().unwrap();
    let f = id.to_field();
    let i = parse(&[
        P::D(&[tag::DELEGATE]),
        P::D(&f),
        P::D(&[tag::PARENT]),
        P::D(&f),
        P::D(&[tag::POINTER]),
        P::D(&[0x10, 0x27]),
    ]);
    assert_eq!(i[0].delegate_id(), Some(id));
    assert_eq!(i[0].parent_ids(), vec![id]);
    assert_eq!(i[0].pointer_value(), Some(10_000));
    assert!(!i[0].unrecognized_even_field);
}

#[test]
fn undecodable_script_yields_nothing_and_never_panics() {
    // a push that runs past the end of the script
    let bytes = vec![0x00, 0x63, 0x03, b'o', b'r', b'd', 0x4c, 0xff, 0x01];
    let i = Inscription::from_transaction(&tx(vec![witness(ScriptBuf::from_bytes(bytes))]));
    assert!(i.is_empty());
}
