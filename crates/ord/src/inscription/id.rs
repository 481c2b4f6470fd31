//! Inscription ids: `<reveal txid>i<index>`.

use crate::error::{Error, Result};
use bitcoin::hashes::Hash;
use bitcoin::Txid;
use std::fmt;
use std::str::FromStr;

/// An inscription's id: its reveal transaction and which of its inscriptions it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InscriptionId {
    /// The transaction that revealed it.
    pub txid: Txid,
    /// Which of that transaction's inscriptions it is: the `n` of `i<n>`, from 0.
    pub index: u32,
}

impl fmt::Display for InscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}i{}", self.txid, self.index)
    }
}

impl FromStr for InscriptionId {
    type Err = Error;
    /// Accepts `<txid>i<n>` and, as the first goat tool did, a bare txid
    /// meaning its first inscription.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let bad = || {
            Error::usage(format!(
                "'{}' is neither a txid nor an inscription id: expected 64 hex digits, optionally followed by i<number>",
                crate::text::line(s)
            ))
        };
        let (txid, index) = match s.len() {
            64 => (s, 0),
            n if n > 65 && s.as_bytes()[64] == b'i' => {
                let idx: u32 = s[65..].parse().map_err(|_| bad())?;
                (&s[..64], idx)
            }
            _ => return Err(bad()),
        };
        let txid = Txid::from_str(txid).map_err(|_| bad())?;
        Ok(InscriptionId { txid, index })
    }
}

impl InscriptionId {
    /// Decode a parent/delegate field: 32-byte txid in internal byte order,
    /// then the index little-endian with trailing zeros dropped (the 4-byte
    /// form with zeros is also accepted), as ord does.
    pub fn from_field(value: &[u8]) -> Option<Self> {
        if value.len() < 32 || value.len() > 36 {
            return None;
        }
        let (txid, index) = value.split_at(32);
        if let Some(last) = index.last() {
            if index.len() != 4 && *last == 0 {
                return None;
            }
        }
        let txid = Txid::from_slice(txid).ok()?;
        let mut le = [0u8; 4];
        le[..index.len()].copy_from_slice(index);
        Some(InscriptionId { txid, index: u32::from_le_bytes(le) })
    }

    /// The field form of this id (inverse of `from_field`).
    pub fn to_field(&self) -> Vec<u8> {
        let mut v = self.txid.to_byte_array().to_vec();
        let mut idx = self.index.to_le_bytes().to_vec();
        while idx.last() == Some(&0) {
            idx.pop();
        }
        v.extend(idx);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_field_roundtrip() {
        let t = "1111111111111111111111111111111111111111111111111111111111111111";
        let id: InscriptionId = format!("{t}i7").parse().unwrap();
        assert_eq!(id.index, 7);
        let bare: InscriptionId = t.parse().unwrap();
        assert_eq!(bare.index, 0);
        assert_eq!(InscriptionId::from_field(&id.to_field()), Some(id));
        assert_eq!(InscriptionId::from_field(&bare.to_field()), Some(bare));
        let mut four = bare.to_field();
        four.extend([0, 0, 0, 0]);
        assert_eq!(InscriptionId::from_field(&four), Some(bare));
        let mut bad = bare.to_field();
        bad.extend([1, 0]);
        assert_eq!(InscriptionId::from_field(&bad), None);
        assert!("xyz".parse::<InscriptionId>().is_err());
        assert!(format!("{t}i").parse::<InscriptionId>().is_err());
    }
}
