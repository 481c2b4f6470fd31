//! The `ord` envelope: finding envelopes in a transaction's witnesses, and
//! writing them (`Envelope`, for `goat publish` and the devchain). The wire
//! format lives here alone.
//!
//! Hand-written because no maintained crate parses ordinals envelopes without
//! pulling in all of `ord`; the rules follow ord's documented behaviour:
//! `OP_FALSE OP_IF "ord" (push)* OP_ENDIF` inside a taproot leaf script,
//! pushnum opcodes accepted as data, anything else aborting the envelope.

use super::tag;
use bitcoin::opcodes::all as op;
use bitcoin::script::{Builder, Instruction, PushBytesBuf};
use bitcoin::{Script, ScriptBuf, Transaction, XOnlyPublicKey};

/// The push after `OP_FALSE OP_IF` that makes it an ord envelope.
pub const PROTOCOL_ID: &[u8] = b"ord";
/// Largest data push tapscript allows (and ord writes body chunks of).
pub const MAX_PUSH: usize = 520;

/// One push inside an envelope: data, or a number written as OP_1..OP_16.
#[derive(Debug, Clone)]
pub enum Push {
    /// A data push of these bytes.
    Data(Vec<u8>),
    /// A number from 1 to 16, written as its OP_1..OP_16 opcode.
    Num(u8),
}

/// The pushes of one envelope after the `ord` protocol id.
#[derive(Debug, Clone, Default)]
pub struct Envelope(pub Vec<Push>);

impl Envelope {
    /// The usual envelope: content type, optional encoding, then the body in
    /// 520-byte chunks.
    pub fn file(content_type: &str, encoding: Option<&str>, body: &[u8]) -> Envelope {
        let mut e = Envelope::default().field(tag::CONTENT_TYPE, content_type.as_bytes());
        if let Some(enc) = encoding {
            e = e.field(tag::CONTENT_ENCODING, enc.as_bytes());
        }
        e.body(body)
    }
    /// A delegating envelope with no body of its own.
    pub fn delegate(to: &crate::inscription::InscriptionId) -> Envelope {
        Envelope::default().field(tag::DELEGATE, &to.to_field())
    }
    /// A goatfile (or any file) with metadata (tag 5, CBOR): content type,
    /// optional encoding, the metadata in 520-byte pushes (ord joins them),
    /// then the body.
    pub fn file_with_metadata(content_type: &str, encoding: Option<&str>, metadata: &[u8], body: &[u8]) -> Envelope {
        let mut e = Envelope::default().field(tag::CONTENT_TYPE, content_type.as_bytes());
        if let Some(enc) = encoding {
            e = e.field(tag::CONTENT_ENCODING, enc.as_bytes());
        }
        e.metadata(metadata).body(body)
    }
    /// Metadata in pushes of at most 520 bytes, each its own tag 5 field.
    pub fn metadata(mut self, metadata: &[u8]) -> Self {
        for c in metadata.chunks(MAX_PUSH) {
            self = self.field(tag::METADATA, c);
        }
        self
    }
    /// Adds one field: `tag`, then `value`, as two data pushes (a `value` over
    /// [`MAX_PUSH`] bytes is cut when written).
    pub fn field(mut self, tag: u8, value: &[u8]) -> Self {
        self.0.push(Push::Data(vec![tag]));
        self.0.push(Push::Data(value.to_vec()));
        self
    }
    /// Adds the body: the empty push that starts it, then `body` in 520-byte pushes.
    pub fn body(mut self, body: &[u8]) -> Self {
        self.0.push(Push::Data(vec![]));
        for c in body.chunks(MAX_PUSH) {
            self.0.push(Push::Data(c.to_vec()));
        }
        self
    }
    /// Write this envelope at the end of `b`: `OP_FALSE OP_IF "ord" … OP_ENDIF`.
    pub fn append_to(&self, b: Builder) -> Builder {
        let mut b = b
            .push_opcode(bitcoin::opcodes::OP_FALSE)
            .push_opcode(op::OP_IF)
            .push_slice(<&bitcoin::script::PushBytes>::try_from(PROTOCOL_ID).expect("3 bytes"));
        for p in &self.0 {
            b = match p {
                // `body` and `field` callers keep pushes ≤ 520 bytes; a longer
                // one is cut rather than panicking (the script is then invalid).
                Push::Data(d) => {
                    b.push_slice(PushBytesBuf::try_from(d[..d.len().min(MAX_PUSH)].to_vec()).unwrap_or_default())
                }
                Push::Num(n) => b.push_opcode((op::OP_PUSHNUM_1.to_u8() + n.clamp(&1, &16) - 1).into()),
            };
        }
        b.push_opcode(op::OP_ENDIF)
    }
}

/// The leaf script of a reveal: `<key> OP_CHECKSIG` then the envelopes, as
/// ord writes it, so only the holder of `key` can spend the commit output.
pub fn reveal_script(key: &XOnlyPublicKey, envelopes: &[Envelope]) -> ScriptBuf {
    let mut b = Builder::new().push_x_only_key(key).push_opcode(op::OP_CHECKSIG);
    for e in envelopes {
        b = e.append_to(b);
    }
    b.into_script()
}

/// Envelopes goat reads from one transaction. Every inscription costs goat
/// a few hundred bytes of bookkeeping however small its envelope (an empty
/// one is 7 bytes of witness), so a 4 MB transaction of empty envelopes
/// would cost hundreds of MB; past this many, the rest are not read. Real
/// batches stay far below it: `ord wallet batch` gives each inscription an
/// output in its usual modes (about 230 weight units each with a pointer,
/// so about 1,700 in a standard 400,000-unit transaction), and even a
/// same-sat batch of bare delegates (46 bytes each) fits about 8,700.
pub const MAX_ENVELOPES: usize = 10_000;
/// Data pushes goat reads from one transaction's envelopes: each costs 16
/// bytes (a borrowed slice) however small, and a push can be one byte of
/// witness (`OP_1`). A 4 MB body is about 7,700 pushes of 520 bytes, a
/// full batch of 10,000 envelopes about 60,000 pushes.
pub const MAX_PUSHES: usize = 200_000;

/// The pushes of one envelope, before fields are interpreted. The pushes
/// borrow the witness: a script of tiny pushes costs 16 bytes per push
/// here, not an allocation each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEnvelope<'a> {
    /// Input index that carried it.
    pub input: usize,
    /// Position among the envelopes of that input.
    pub offset: usize,
    /// Data pushes after the protocol id.
    pub payload: Vec<&'a [u8]>,
    /// A data push was written with OP_1..OP_16 or OP_1NEGATE (an ord curse).
    pub pushnum: bool,
    /// `OP_FALSE OP_FALSE OP_IF` style stutter before the envelope (an ord curse).
    pub stutter: bool,
}

/// The first [`MAX_ENVELOPES`] envelopes in `tx` (and no more than
/// [`MAX_PUSHES`] pushes in all), in input order then script order. Their
/// position in this list is the `n` of inscription id `<txid>i<n>`.
pub fn envelopes(tx: &Transaction) -> Vec<RawEnvelope<'_>> {
    read(tx, MAX_ENVELOPES).0
}

/// Whether `tx` holds an envelope (stops at the first).
pub fn any(tx: &Transaction) -> bool {
    !read(tx, 1).0.is_empty()
}

/// Whether `tx` holds more envelopes or pushes than goat reads.
pub fn too_many(tx: &Transaction) -> bool {
    read(tx, MAX_ENVELOPES).1
}

/// Up to `limit` envelopes of `tx`, and whether more were left unread
/// (past `limit`, or past [`MAX_PUSHES`]).
fn read(tx: &Transaction, limit: usize) -> (Vec<RawEnvelope<'_>>, bool) {
    let mut out = Vec::new();
    let mut pushes = MAX_PUSHES;
    for (i, input) in tx.input.iter().enumerate() {
        // The same witness rule as ord (its `unversioned_leaf_script_from_
        // witness`): the leaf script of a script-path spend, after the
        // annex rule, whatever the control block's leaf version or length.
        // `taproot_leaf_script()` also checks those, and so misses
        // inscriptions ord sees (found by tests/cli/ord_diff.rs).
        #[allow(deprecated)]
        let Some(script) = input.witness.tapscript() else {
            continue;
        };
        let (found, cut) = scan(script, i, limit - out.len(), &mut pushes);
        out.extend(found);
        if cut {
            return (out, true);
        }
    }
    (out, false)
}

/// Envelopes of one leaf script. A script that fails to decode part-way
/// keeps no envelopes, as in ord (the instruction stream is unreadable).
pub fn from_tapscript(script: &Script, input: usize) -> Vec<RawEnvelope<'_>> {
    let mut pushes = MAX_PUSHES;
    scan(script, input, MAX_ENVELOPES, &mut pushes).0
}

/// Up to `limit` envelopes of one leaf script, spending at most `pushes`
/// pushes; true when more were left unread (then what follows is not read,
/// nor checked for decoding errors). The instructions are read one at a
/// time: collecting them first would cost 24 bytes per instruction.
fn scan<'a>(script: &'a Script, input: usize, limit: usize, pushes: &mut usize) -> (Vec<RawEnvelope<'a>>, bool) {
    let mut ins = script.instructions().peekable();
    let mut found = Vec::new();
    let mut stuttered = false;
    while let Some(here) = ins.next() {
        let Ok(here) = here else { return (Vec::new(), false) };
        if !is_empty_push(&here) {
            continue;
        }
        if found.len() == limit {
            return (found, true);
        }
        match parse_after_false(&mut ins, input, found.len(), stuttered, pushes) {
            Ok(env) => found.push(env),
            Err(Unreadable) => return (Vec::new(), false),
            Err(TooLong) => return (found, true),
            Err(Stutter(s)) => stuttered = s,
        }
    }
    (found, false)
}

fn is_empty_push(ins: &Instruction) -> bool {
    matches!(ins, Instruction::PushBytes(p) if p.is_empty())
}

/// Why no envelope follows an OP_FALSE.
enum NoEnvelope {
    /// Not an envelope; whether the next instruction is another OP_FALSE
    /// (a stutter, which ord remembers).
    Stutter(bool),
    /// The script stops decoding: no envelope of it counts.
    Unreadable,
    /// More pushes than goat reads.
    TooLong,
}
use NoEnvelope::{Stutter, TooLong, Unreadable};

/// One byte for each pushnum value, so that a number pushed with OP_n is a
/// borrowed slice like any other push.
static BYTES: [u8; 256] = {
    let mut b = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        b[i] = i as u8;
        i += 1;
    }
    b
};

type Instructions<'a> = std::iter::Peekable<bitcoin::script::Instructions<'a>>;

/// Called just after an OP_FALSE; on failure, the instruction that broke
/// the envelope is not consumed (it may start the next one).
fn parse_after_false<'a>(
    ins: &mut Instructions<'a>,
    input: usize,
    offset: usize,
    stutter: bool,
    pushes: &mut usize,
) -> Result<RawEnvelope<'a>, NoEnvelope> {
    fn next_is_false(ins: &mut Instructions<'_>) -> NoEnvelope {
        match ins.peek() {
            Some(Ok(i)) => Stutter(is_empty_push(i)),
            Some(Err(_)) => Unreadable,
            None => Stutter(false),
        }
    }
    if !matches!(ins.peek(), Some(Ok(Instruction::Op(o))) if *o == op::OP_IF) {
        return Err(next_is_false(ins));
    }
    ins.next();
    if !matches!(ins.peek(), Some(Ok(Instruction::PushBytes(p))) if p.as_bytes() == PROTOCOL_ID) {
        return Err(next_is_false(ins));
    }
    ins.next();
    let mut payload = Vec::new();
    let mut pushnum = false;
    loop {
        let Some(i) = ins.next() else { return Err(Stutter(false)) };
        let Ok(i) = i else { return Err(Unreadable) };
        let push: &'a [u8] = match i {
            Instruction::PushBytes(p) => p.as_bytes(),
            Instruction::Op(o) if o == op::OP_ENDIF => {
                return Ok(RawEnvelope { input, offset, payload, pushnum, stutter })
            }
            Instruction::Op(o) if o == op::OP_PUSHNUM_NEG1 => {
                pushnum = true;
                &BYTES[0x81..0x82]
            }
            Instruction::Op(o) if (op::OP_PUSHNUM_1.to_u8()..=op::OP_PUSHNUM_16.to_u8()).contains(&o.to_u8()) => {
                pushnum = true;
                let n = (o.to_u8() - op::OP_PUSHNUM_1.to_u8() + 1) as usize;
                &BYTES[n..n + 1]
            }
            Instruction::Op(_) => return Err(Stutter(false)),
        };
        if *pushes == 0 {
            return Err(TooLong);
        }
        *pushes -= 1;
        payload.push(push);
    }
}
