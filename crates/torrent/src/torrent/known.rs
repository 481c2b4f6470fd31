//! A torrent's metadata from somewhere other than a peer: an inscription, a
//! URL (`xs=`, or a goatfile entry's `metadata:`), a `.torrent` goat saved.
//!
//! Wherever it came from, it is only a candidate: it is used when its info
//! dictionary hashes (SHA-1) to the magnet's info-hash, which is what makes
//! it the torrent's, as BEP 9 checks metadata from peers. What lies outside
//! the info dictionary (trackers, `url-list`) is not covered by that hash:
//! its web seeds are taken only from a source the caller vouches for
//! (`Candidate::vouched`: bytes proven to be an inscription the holder's
//! goatfile names), never from anyone else (a URL's server, or anyone on
//! an http:// path, could name any server for goat to ask).

use crate::error::{Error, Result};
use crate::goatfile::{InfoHash, Magnet};
use bytes::Bytes;

/// Largest metadata read from one source: a 250 GB model in 1 MiB pieces
/// has 5 MB of piece hashes.
pub const MAX_BYTES: usize = 16 << 20;

/// Deepest bencode nesting read (a torrent needs 4: the torrent, info,
/// files, a path). librqbit's parser recurses, so a hostile `llll…` must
/// be refused before it.
const MAX_DEPTH: usize = 32;

/// Metadata from one source, not yet checked.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it came from, in words (an inscription id, a URL).
    pub source: String,
    /// What was read: a `.torrent` or a bare bencoded info dictionary.
    pub bytes: Bytes,
    /// Its `url-list` (outside the info-hash) is the holder's own choice:
    /// an inscription proven to be the block's, named by the goatfile.
    pub vouched: bool,
}

/// A candidate that proved to be the magnet's torrent: the `.torrent`
/// goat hands to librqbit (the info dictionary as received, the magnet's
/// trackers, and as web seeds the magnet's `ws=`, then a vouched
/// `url-list`). Made only by [`check`].
#[derive(Debug, Clone)]
pub struct Checked(Bytes);

impl Checked {
    /// The `.torrent` to hand to librqbit.
    pub fn torrent(&self) -> &Bytes {
        &self.0
    }
}

/// Check `c` against `magnet`'s info-hash: a `.torrent`, or a bare info
/// dictionary. The error names the source.
pub fn check(magnet: &Magnet, c: &Candidate) -> Result<Checked> {
    let source = crate::text::line(&c.source);
    let refuse = |why: String| Error::invalid(format!("the torrent metadata from {source} {why}: not used"));
    if c.bytes.len() > MAX_BYTES {
        return Err(refuse(format!("is more than {MAX_BYTES} bytes")));
    }
    nesting(&c.bytes).map_err(|w| refuse(w.to_string()))?;
    let (info, url_list) = match info_of(&c.bytes) {
        Some(found) => found,
        None => return Err(refuse("is neither a .torrent nor a bencoded info dictionary".into())),
    };
    let got = InfoHash::from_bytes(&crate::hash::sha1(info));
    if got != magnet.info_hash() {
        return Err(refuse(format!("has info-hash {got}, not the magnet's {}", magnet.info_hash())));
    }
    let mut web_seeds = magnet.web_seeds.clone();
    if c.vouched {
        super::extend_new(&mut web_seeds, url_list);
    }
    let torrent = assemble(info, &magnet.trackers, &web_seeds)?;
    super::metadata::check_torrent(&torrent).map_err(|e| refuse(format!("is unusable ({})", e.message)))?;
    Ok(Checked(torrent))
}

/// The raw info dictionary and the `url-list` of a `.torrent`, or the
/// bytes themselves when they are an info dictionary.
fn info_of(bytes: &[u8]) -> Option<(&[u8], Vec<String>)> {
    use librqbit_bencode::BencodeValue;
    if let Ok(t) = librqbit::torrent_from_bytes(bytes) {
        let raw: &[u8] = t.info.raw_bytes.as_ref();
        // the same bytes, as a slice of ours rather than of the parse
        let start = (raw.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
        let info = bytes.get(start..start + raw.len())?;
        let mut urls = Vec::new();
        if let Ok(BencodeValue::Dict(d)) = librqbit_bencode::dyn_from_bytes::<&[u8]>(bytes) {
            match d.get(&b"url-list"[..]) {
                Some(BencodeValue::Bytes(u)) => urls.push(*u),
                Some(BencodeValue::List(l)) => urls.extend(l.iter().filter_map(|v| match v {
                    BencodeValue::Bytes(u) => Some(*u),
                    _ => None,
                })),
                _ => {}
            }
        }
        let urls = urls
            .into_iter()
            .filter_map(|u| std::str::from_utf8(u).ok())
            .filter(|u| crate::goatfile::magnet::is_http_url(u))
            .map(str::to_string)
            .take(crate::goatfile::magnet::MAX_WEB_SEEDS)
            .collect();
        return Some((info, urls));
    }
    // A bare info dictionary: it parses as one inside a `.torrent`.
    let wrapped = [&b"d4:info"[..], bytes, b"e"].concat();
    let t = librqbit::torrent_from_bytes(&wrapped).ok()?;
    (t.info.raw_bytes.as_ref().len() == bytes.len()).then_some((bytes, Vec::new()))
}

/// The `.torrent` for `info`: announce and announce-list from `trackers`,
/// `url-list` from `web_seeds`, keys sorted as BEP 3 requires.
pub fn assemble(info: &[u8], trackers: &[String], web_seeds: &[String]) -> Result<Bytes> {
    #[derive(serde::Serialize)]
    struct Torrent<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        announce: Option<&'a str>,
        #[serde(rename = "announce-list", skip_serializing_if = "Option::is_none")]
        announce_list: Option<Vec<&'a [String]>>,
        info: librqbit_bencode::raw_value::RawValue<&'a [u8]>,
        #[serde(rename = "url-list", skip_serializing_if = "Option::is_none")]
        url_list: Option<&'a [String]>,
    }
    let t = Torrent {
        announce: trackers.first().map(|s| s.as_str()),
        announce_list: (!trackers.is_empty()).then(|| vec![trackers]),
        info: librqbit_bencode::raw_value::RawValue(info),
        url_list: (!web_seeds.is_empty()).then_some(web_seeds),
    };
    let mut out = Vec::with_capacity(info.len() + 256);
    librqbit_bencode::bencode_serialize_to_writer(&t, &mut out)
        .map_err(|e| Error::internal(format!("cannot write a .torrent: {e}")))?;
    Ok(out.into())
}

/// The web seeds a `.torrent` names in `url-list` (http and https only).
pub fn url_list(torrent: &[u8]) -> Vec<String> {
    if nesting(torrent).is_err() {
        return Vec::new();
    }
    info_of(torrent).map(|(_, u)| u).unwrap_or_default()
}

/// Refuse bencode nested deeper than [`MAX_DEPTH`], walking its tokens
/// without building anything: librqbit's parser recurses once per level.
/// (A scan this small is not worth a crate; it is not a parser: anything
/// malformed is left for librqbit to refuse.)
fn nesting(b: &[u8]) -> std::result::Result<(), &'static str> {
    let (mut i, mut depth) = (0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'd' | b'l' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("nests deeper than any torrent");
                }
                i += 1;
            }
            b'e' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'i' => match b[i..].iter().position(|&c| c == b'e') {
                Some(n) => i += n + 1,
                None => return Ok(()),
            },
            b'0'..=b'9' => {
                let Some(colon) = b[i..].iter().position(|&c| c == b':') else { return Ok(()) };
                let Some(len) = std::str::from_utf8(&b[i..i + colon]).ok().and_then(|s| s.parse::<usize>().ok()) else {
                    return Ok(());
                };
                i = i.saturating_add(colon + 1).saturating_add(len);
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Vec<u8> {
        // one file of 5 bytes in one 16 KiB piece
        let mut v = b"d6:lengthi5e4:name3:abc12:piece lengthi16384e6:pieces20:".to_vec();
        v.extend(crate::hash::sha1(b"hello"));
        v.push(b'e');
        v
    }

    fn magnet_for(info: &[u8], extra: &str) -> Magnet {
        let h = hex::encode(crate::hash::sha1(info));
        Magnet::parse(&format!("magnet:?xt=urn:btih:{h}{extra}")).unwrap()
    }

    #[test]
    fn a_torrent_or_its_info_dictionary_is_checked_against_the_info_hash() {
        let info = info();
        let m = magnet_for(&info, "&ws=http%3A%2F%2Fa%2F&tr=http%3A%2F%2Ft%2Fannounce");
        let full = assemble(&info, &[], &["http://b/".to_string()]).unwrap();
        for (bytes, vouched, seeds) in [
            (Bytes::from(info.clone()), true, vec!["http://a/"]),
            (full.clone(), true, vec!["http://a/", "http://b/"]),
            // the url-list is outside the info-hash: only a vouched source's counts
            (full, false, vec!["http://a/"]),
        ] {
            let c = check(&m, &Candidate { source: "x".into(), bytes, vouched }).unwrap();
            let t = c.torrent();
            assert_eq!(url_list(t), seeds, "the web seeds travel in the .torrent goat keeps");
            assert!(t.windows(info.len()).any(|w| w == info), "the info dictionary is kept byte for byte");
            assert!(t.windows(15).any(|w| w == b"http://t/announ"), "the magnet's trackers");
        }
        let other = magnet_for(b"d4:name1:xe", "");
        let e = check(
            &other,
            &Candidate { source: "https://m/x.torrent".into(), bytes: info.clone().into(), vouched: true },
        )
        .unwrap_err();
        assert!(e.message.contains("https://m/x.torrent") && e.message.contains("not the magnet's"), "{}", e.message);
    }

    #[test]
    fn hostile_bytes_are_refused_with_the_source_named() {
        let m = magnet_for(&info(), "");
        let deep = Bytes::from([vec![b'l'; 100_000], vec![b'e'; 100_000]].concat());
        for bad in [Bytes::from_static(b"<html>404</html>"), deep, Bytes::from(vec![b'd'; MAX_BYTES + 1]), Bytes::new()]
        {
            let e = check(&m, &Candidate { source: "i0 \u{1b}[2J".into(), bytes: bad, vouched: true }).unwrap_err();
            assert!(
                e.message.starts_with("the torrent metadata from i0") && !e.message.contains('\u{1b}'),
                "{}",
                e.message
            );
        }
    }
}
