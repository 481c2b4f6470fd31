//! goat's SHA-1, for piece proofs (`goat verify`, the read-back of each
//! downloaded piece) and info-hashes.
//!
//! One function, so the implementation is chosen in one place, by
//! measurement: the `sha1` crate (SHA-NI), OpenSSL and aws-lc-rs all hash
//! 1.55 GB/s per core here, ring 0.32 (docs/benchmarks.md, "SHA-1"), so the
//! `sha1` crate stays.

/// The SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}

/// SHA-1 over data that arrives in runs.
#[derive(Default)]
pub struct Sha1(sha1::Sha1);

impl Sha1 {
    pub fn update(&mut self, data: &[u8]) {
        use sha1::Digest as _;
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 20] {
        use sha1::Digest as _;
        self.0.finalize().into()
    }
}
