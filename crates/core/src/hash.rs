//! goat's hashes: SHA-1 for piece proofs (`goat verify`, the read-back of
//! each downloaded piece), info-hashes, torrents `goat publish` makes and
//! MSE's keys; sha256 for whole files (the goatfile's `sha256`) and
//! on-chain bodies.
//!
//! One home, so each implementation is chosen in one place, by
//! measurement: the `sha1` crate (SHA-NI), OpenSSL and aws-lc-rs all hash
//! 1.55 GB/s per core here, ring 0.32 (docs/benchmarks.md, "SHA-1"), so the
//! `sha1` crate stays; `sha2` for sha256.

use std::fs::File;

/// The SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).into()
}

/// SHA-1 over data that arrives in runs.
#[derive(Default)]
pub struct Sha1(sha1::Sha1);

impl Sha1 {
    /// Hashes `data` after the runs before it.
    pub fn update(&mut self, data: &[u8]) {
        use sha1::Digest as _;
        self.0.update(data);
    }

    /// The hash's bytes.
    pub fn finish(self) -> [u8; 20] {
        use sha1::Digest as _;
        self.0.finalize().into()
    }
}

/// sha256 over data that arrives in runs.
#[derive(Default, Clone)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    /// Hashes `data` after the runs before it.
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        self.0.update(data);
    }

    /// The hash's bytes.
    pub fn finish(self) -> [u8; 32] {
        use sha2::Digest as _;
        self.0.finalize().into()
    }

    /// The hash in lower-case hex, as goatfiles write it.
    pub fn finish_hex(self) -> String {
        use sha2::Digest as _;
        hex::encode(self.0.finalize())
    }
}

/// The sha256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::default();
    h.update(data);
    h.finish()
}

/// The hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256::default();
    h.update(data);
    h.finish_hex()
}

/// The hex sha256 of an open file's bytes, from its start.
pub fn sha256_file(f: &File) -> std::io::Result<String> {
    let mut h = Sha256::default();
    read_runs(f, |run| h.update(run))?;
    Ok(h.finish_hex())
}

/// A file's bytes from its start, in runs of up to 1 MiB, read at their
/// offsets (a handle shared with another that moved the file position
/// still reads from the start).
pub fn read_runs(f: &File, mut take: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = f.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(());
        }
        take(&buf[..n]);
        at += n as u64;
    }
}
