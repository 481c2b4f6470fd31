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

pub const PROTOCOL_ID: &[u8] = b"ord";
/// Largest data push tapscript allows (and ord writes body chunks of).
pub const MAX_PUSH: usize = 520;

/// One push inside an envelope: data, or a number written as OP_1..OP_16.
#[derive(Debug, Clone)]
pub enum Push {
    Data(Vec<u8>),
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
    pub fn field(mut self, tag: u8, value: &[u8]) -> Self {
        self.0.push(Push::Data(vec![tag]));
        self.0.push(Push::Data(value.to_vec()));
        self
    }
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
                Push::Data(d) => b.push_slice(PushBytesBuf::try_from(d[..d.len().min(MAX_PUSH)].to_vec()).unwrap_or_default()),
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


/// The pushes of one envelope, before fields are interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEnvelope {
    /// Input index that carried it.
    pub input: usize,
    /// Position among the envelopes of that input.
    pub offset: usize,
    /// Data pushes after the protocol id.
    pub payload: Vec<Vec<u8>>,
    /// A data push was written with OP_1..OP_16 or OP_1NEGATE (an ord curse).
    pub pushnum: bool,
    /// `OP_FALSE OP_FALSE OP_IF` style stutter before the envelope (an ord curse).
    pub stutter: bool,
}

/// All envelopes in `tx`, in input order then script order. Their position in
/// this list is the `n` of inscription id `<txid>i<n>`.
pub fn envelopes(tx: &Transaction) -> Vec<RawEnvelope> {
    let mut out = Vec::new();
    for (i, input) in tx.input.iter().enumerate() {
        // The same witness rule as ord (its `unversioned_leaf_script_from_
        // witness`): the leaf script of a script-path spend, after the
        // annex rule, whatever the control block's leaf version or length.
        // `taproot_leaf_script()` also checks those, and so misses
        // inscriptions ord sees (found by tests/cli/ord_diff.rs).
        #[allow(deprecated)]
        if let Some(script) = input.witness.tapscript() {
            out.extend(from_tapscript(script, i));
        }
    }
    out
}

/// Envelopes of one leaf script. A script that fails to decode part-way keeps
/// no envelopes, as in ord (the instruction stream is unreadable).
pub fn from_tapscript(script: &Script, input: usize) -> Vec<RawEnvelope> {
    let instructions: Vec<Instruction> = match script.instructions().collect() {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let mut found = Vec::new();
    let mut stuttered = false;
    let mut i = 0;
    while i < instructions.len() {
        let here = &instructions[i];
        i += 1;
        if !is_empty_push(here) {
            continue;
        }
        match parse_after_false(&instructions, &mut i, input, found.len(), stuttered) {
            Ok(env) => found.push(env),
            Err(stutter) => stuttered = stutter,
        }
    }
    found
}

fn is_empty_push(ins: &Instruction) -> bool {
    matches!(ins, Instruction::PushBytes(p) if p.is_empty())
}

/// Called just after an OP_FALSE. On failure returns whether the next
/// instruction is another OP_FALSE (a stutter), which ord remembers.
fn parse_after_false(
    ins: &[Instruction],
    i: &mut usize,
    input: usize,
    offset: usize,
    stutter: bool,
) -> Result<RawEnvelope, bool> {
    let next_is_false = |i: usize| ins.get(i).map(is_empty_push).unwrap_or(false);
    if !matches!(ins.get(*i), Some(Instruction::Op(o)) if *o == op::OP_IF) {
        return Err(next_is_false(*i));
    }
    *i += 1;
    if !matches!(ins.get(*i), Some(Instruction::PushBytes(p)) if p.as_bytes() == PROTOCOL_ID) {
        return Err(next_is_false(*i));
    }
    *i += 1;
    let mut payload = Vec::new();
    let mut pushnum = false;
    loop {
        let Some(ins) = ins.get(*i) else { return Err(false) };
        *i += 1;
        match ins {
            Instruction::PushBytes(p) => payload.push(p.as_bytes().to_vec()),
            Instruction::Op(o) if *o == op::OP_ENDIF => {
                return Ok(RawEnvelope { input, offset, payload, pushnum, stutter })
            }
            Instruction::Op(o) if *o == op::OP_PUSHNUM_NEG1 => {
                pushnum = true;
                payload.push(vec![0x81]);
            }
            Instruction::Op(o)
                if (op::OP_PUSHNUM_1.to_u8()..=op::OP_PUSHNUM_16.to_u8()).contains(&o.to_u8()) =>
            {
                pushnum = true;
                payload.push(vec![o.to_u8() - op::OP_PUSHNUM_1.to_u8() + 1]);
            }
            Instruction::Op(_) => return Err(false),
        }
    }
}
