//! goat's SHA-1, for piece proofs (`goat verify`, the read-back of each
//! downloaded piece) and info-hashes.
//!
//! One function, so the implementation is chosen in one place, by
//! measurement (docs/benchmarks.md, "SHA-1").

/// The SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}
