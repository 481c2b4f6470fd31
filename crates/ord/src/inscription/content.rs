//! Decoding inscription bodies.
//!
//! ord serves the body with its `content-encoding` header and lets the browser
//! decode; goat writes files, so it decodes itself, with a cap so a small
//! brotli bomb cannot fill the disk or memory.

use crate::error::{Error, Result};
use std::io::Read;

/// Largest decoded body goat will produce (a 4 MB block can hold at most
/// ~4 MB of body; brotli can expand that a lot, so allow generous headroom).
pub const MAX_DECODED: u64 = 256 * 1024 * 1024;

/// Why a body was not decoded. Its kind is invalid data wherever it ends
/// up; the advice to write the body as stored belongs to the commands that
/// can (`goat cat --raw`, `goat get --raw`), which find this cause in the
/// error's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecodable {
    /// An encoding goat does not decode.
    Unsupported(String),
    /// The body is not valid in its encoding.
    Corrupt {
        /// The decoder that failed: `brotli`, `gzip` or `deflate`.
        encoding: &'static str,
        /// What the decoder said.
        why: String,
    },
    /// It decodes to more than the cap.
    TooBig(u64),
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Unsupported(e) => {
                write!(
                    f,
                    "content encoding '{}' is not supported (goat decodes br, gzip and deflate)",
                    crate::text::line(e)
                )
            }
            Undecodable::Corrupt { encoding, why } => write!(f, "the {encoding} body does not decode ({why})"),
            Undecodable::TooBig(cap) => write!(f, "decoded content is larger than {cap} bytes: refusing to expand it"),
        }
    }
}

impl std::error::Error for Undecodable {}

impl From<Undecodable> for Error {
    fn from(u: Undecodable) -> Error {
        Error::invalid(u.to_string()).caused_by(u)
    }
}

/// Decode `body` according to `encoding` (None = identity).
pub fn decode(body: &[u8], encoding: Option<&[u8]>, cap: u64) -> Result<Vec<u8>> {
    let enc = encoding.map(|e| String::from_utf8_lossy(e).trim().to_ascii_lowercase());
    match enc.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() as u64 > cap {
                return Err(too_big(cap));
            }
            Ok(body.to_vec())
        }
        Some("br") => read_capped(brotli::Decompressor::new(body, 64 * 1024), cap, "brotli"),
        Some("gzip") | Some("x-gzip") => read_capped(flate2::read::GzDecoder::new(body), cap, "gzip"),
        Some("deflate") => read_capped(flate2::read::ZlibDecoder::new(body), cap, "deflate"),
        Some(other) => Err(Undecodable::Unsupported(other.to_string()).into()),
    }
}

fn read_capped(reader: impl Read, cap: u64, what: &'static str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut limited = reader.take(cap + 1);
    limited.read_to_end(&mut out).map_err(|e| Undecodable::Corrupt { encoding: what, why: e.to_string() })?;
    if out.len() as u64 > cap {
        return Err(too_big(cap));
    }
    Ok(out)
}

fn too_big(cap: u64) -> Error {
    Undecodable::TooBig(cap).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn brotli_gzip_identity_and_caps() {
        let text = b"hello goat ".repeat(1000);
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 9, 22);
            w.write_all(&text).unwrap();
        }
        assert_eq!(decode(&br, Some(b"br"), MAX_DECODED).unwrap(), text);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode(&gz, Some(b"gzip"), MAX_DECODED).unwrap(), text);
        assert_eq!(decode(b"abc", None, 10).unwrap(), b"abc");
        assert!(decode(&br, Some(b"br"), 100).is_err(), "cap must hold");
        assert!(decode(b"garbage", Some(b"br"), 100).is_err());
        assert!(decode(b"x", Some(b"zstd"), 100).is_err());
    }
}
