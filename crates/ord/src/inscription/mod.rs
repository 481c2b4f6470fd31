//! Stage 2: transactions → inscriptions.
//!
//! `envelope` finds the raw pushes; this module turns them into fields the way
//! ord does (so goat sees the same inscriptions ord shows), and `content`
//! decodes bodies (`br`, `gzip`) under a size cap.

pub mod content;
pub mod envelope;
pub mod id;

pub use id::InscriptionId;

use bitcoin::Transaction;
use std::collections::BTreeMap;

/// Sats left on an inscription's output (ord's default postage).
pub const POSTAGE: u64 = 10_000;

/// Tags as ord defines them. Even tags that goat does not know make the
/// inscription "unbound" (ord's rule); odd unknown tags are ignored.
pub mod tag {
    /// The body's MIME type.
    pub const CONTENT_TYPE: u8 = 1;
    /// Which sat of the outputs the inscription is made on, counted from 0.
    pub const POINTER: u8 = 2;
    /// A parent inscription's id; one field per parent.
    pub const PARENT: u8 = 3;
    /// CBOR metadata, in pushes that are joined.
    pub const METADATA: u8 = 5;
    /// The name of a metaprotocol the inscription follows.
    pub const METAPROTOCOL: u8 = 7;
    /// How the body is encoded (`br`, `gzip`).
    pub const CONTENT_ENCODING: u8 = 9;
    /// An inscription whose content this one shows instead of a body of its own.
    pub const DELEGATE: u8 = 11;
    /// The commitment to a rune's name that etching the rune writes.
    pub const RUNE: u8 = 13;
    /// Reserved by ord, which does not read it.
    pub const NOTE: u8 = 15;
    /// Properties, in pushes that are joined.
    pub const PROPERTIES: u8 = 17;
    /// How the properties are encoded.
    pub const PROPERTY_ENCODING: u8 = 19;
    /// Even and unused by ord: an inscription that has it is unbound.
    pub const UNBOUND: u8 = 66;
    /// Odd and unused by ord: ignored.
    pub const NOP: u8 = 255;
}

/// One inscription's fields, as ord interprets an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inscription {
    /// The body as stored (pushes joined, not decoded); None when the envelope has none.
    pub body: Option<Vec<u8>>,
    /// Tag 1: the body's MIME type, as written.
    pub content_type: Option<Vec<u8>>,
    /// Tag 9: how the body is encoded (`br`, `gzip`), as written.
    pub content_encoding: Option<Vec<u8>>,
    /// Tag 11: the id of the inscription whose content this one shows, in field form.
    pub delegate: Option<Vec<u8>>,
    /// Tag 5: CBOR metadata, its pushes joined.
    pub metadata: Option<Vec<u8>>,
    /// Tag 7: the metaprotocol's name, as written.
    pub metaprotocol: Option<Vec<u8>>,
    /// Tag 3, every value given: parent inscription ids in field form.
    pub parents: Vec<Vec<u8>>,
    /// Tag 2: which sat of the outputs it is made on, as written ([`Self::pointer_value`]).
    pub pointer: Option<Vec<u8>>,
    /// Tag 17: the properties, their pushes joined.
    pub properties: Option<Vec<u8>>,
    /// Tag 19: how the properties are encoded, as written.
    pub property_encoding: Option<Vec<u8>>,
    /// Tag 13: a rune name's commitment, as written.
    pub rune: Option<Vec<u8>>,
    /// A tag that is not chunked came twice (ord records a curse; the
    /// content is still served).
    pub duplicate_field: bool,
    /// A tag came without a value (an odd number of pushes before the body).
    pub incomplete_field: bool,
    /// An even tag goat does not read was left over (ord makes the inscription unbound).
    pub unrecognized_even_field: bool,
    /// A data push was written with OP_1..OP_16 or OP_1NEGATE.
    pub pushnum: bool,
    /// `OP_FALSE OP_FALSE OP_IF` style stutter before the envelope.
    pub stutter: bool,
    /// Input that carried the envelope.
    pub input: usize,
}

impl Inscription {
    /// The fields of one envelope, read as ord reads them: the body starts at the
    /// first empty push in a tag position, a tag's first value is the one kept
    /// (metadata and properties join all theirs, every parent is kept), and the
    /// curses are recorded.
    pub fn from_envelope(env: &envelope::RawEnvelope) -> Self {
        let payload = &env.payload;
        // The body starts at the first empty push in a *tag* position.
        let body_at = payload.iter().enumerate().position(|(i, p)| i % 2 == 0 && p.is_empty());
        let header = &payload[..body_at.unwrap_or(payload.len())];
        let mut fields: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
        let mut incomplete_field = false;
        for pair in header.chunks(2) {
            match pair {
                [k, v] => fields.entry(*k).or_default().push(*v),
                _ => incomplete_field = true,
            }
        }
        let duplicate_field = fields.values().any(|v| v.len() > 1);
        let content_encoding = take(&mut fields, tag::CONTENT_ENCODING);
        let content_type = take(&mut fields, tag::CONTENT_TYPE);
        let delegate = take(&mut fields, tag::DELEGATE);
        let metadata = take_chunked(&mut fields, tag::METADATA);
        let metaprotocol = take(&mut fields, tag::METAPROTOCOL);
        let parents =
            fields.remove([tag::PARENT].as_slice()).unwrap_or_default().into_iter().map(<[u8]>::to_vec).collect();
        let pointer = take(&mut fields, tag::POINTER);
        let properties = take_chunked(&mut fields, tag::PROPERTIES);
        let property_encoding = take(&mut fields, tag::PROPERTY_ENCODING);
        let rune = take(&mut fields, tag::RUNE);
        let unrecognized_even_field = fields.keys().any(|k| k.first().map(|b| b % 2 == 0).unwrap_or(false));
        Inscription {
            body: body_at.map(|i| payload[i + 1..].concat()),
            content_type,
            content_encoding,
            delegate,
            metadata,
            metaprotocol,
            parents,
            pointer,
            properties,
            property_encoding,
            rune,
            duplicate_field,
            incomplete_field,
            unrecognized_even_field,
            pushnum: env.pushnum,
            stutter: env.stutter,
            input: env.input,
        }
    }

    /// The inscriptions of a transaction (the first
    /// [`envelope::MAX_ENVELOPES`]); index `n` is the `i<n>` of the id.
    pub fn from_transaction(tx: &Transaction) -> Vec<Inscription> {
        envelope::envelopes(tx).iter().map(Self::from_envelope).collect()
    }

    /// The content type, made safe to print on one line.
    pub fn content_type_str(&self) -> Option<String> {
        self.content_type.as_ref().map(|c| crate::text::line(&String::from_utf8_lossy(c)))
    }

    /// The content encoding, made safe to print on one line.
    pub fn content_encoding_str(&self) -> Option<String> {
        self.content_encoding.as_ref().map(|c| crate::text::line(&String::from_utf8_lossy(c)))
    }

    /// The delegate's id; None when there is no delegate or its field does not decode.
    pub fn delegate_id(&self) -> Option<InscriptionId> {
        InscriptionId::from_field(self.delegate.as_deref()?)
    }

    /// The parents' ids, leaving out fields that do not decode as one.
    pub fn parent_ids(&self) -> Vec<InscriptionId> {
        self.parents.iter().filter_map(|p| InscriptionId::from_field(p)).collect()
    }

    /// The pointer as ord reads it: little-endian, at most 8 significant bytes.
    pub fn pointer_value(&self) -> Option<u64> {
        let v = self.pointer.as_ref()?;
        if v.iter().skip(8).any(|b| *b != 0) {
            return None;
        }
        let mut le = [0u8; 8];
        for (d, s) in le.iter_mut().zip(v.iter()) {
            *d = *s;
        }
        Some(u64::from_le_bytes(le))
    }

    /// Curses ord would record, for display.
    pub fn curses(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.duplicate_field {
            c.push("duplicate-field");
        }
        if self.incomplete_field {
            c.push("incomplete-field");
        }
        if self.unrecognized_even_field {
            c.push("unrecognized-even-field");
        }
        if self.pushnum {
            c.push("pushnum");
        }
        if self.stutter {
            c.push("stutter");
        }
        c
    }
}

fn take(fields: &mut BTreeMap<&[u8], Vec<&[u8]>>, t: u8) -> Option<Vec<u8>> {
    let key = [t];
    let values = fields.get_mut(key.as_slice())?;
    if values.is_empty() {
        return None;
    }
    let v = values.remove(0).to_vec();
    if values.is_empty() {
        fields.remove(key.as_slice());
    }
    Some(v)
}

fn take_chunked(fields: &mut BTreeMap<&[u8], Vec<&[u8]>>, t: u8) -> Option<Vec<u8>> {
    let values = fields.remove([t].as_slice())?;
    if values.is_empty() {
        None
    } else {
        Some(values.concat())
    }
}

#[cfg(test)]
mod tests;
