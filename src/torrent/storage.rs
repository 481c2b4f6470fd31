//! goat's storage under librqbit: librqbit's own filesystem storage, with
//! goat's proof of every piece as it completes.
//!
//! librqbit checks a piece's SHA-1 when its last block arrives and then
//! calls `on_piece_completed`. Here goat reads that piece back from the
//! files (still in the page cache: librqbit's check just read it) and hashes
//! it with its own SHA-1 against the piece hashes in the metadata. That is
//! the same independent check the end-of-download proof pass made, without
//! a second pass over the disk: a 4 GiB fetch in a 768 MiB memory group read
//! the whole payload back from the disk for that pass (docs/benchmarks.md).
//!
//! A piece whose read-back does not match (the disk returned other bytes
//! than were written) is recorded as failed. librqbit only logs errors from
//! `on_piece_completed`, so `Torrent::wait` checks the record and has the
//! torrent checked again, which fetches the piece again; it is never
//! reported done.
//!
//! Not built yet, from issue 11: holding blocks in memory until a piece is
//! complete, writing it with one vectored write, and a shared memory budget.

use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};
use librqbit_core::lengths::ValidPieceIndex;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::IoSlice;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What goat's read-back proved of one torrent in this session.
#[derive(Debug, Default)]
pub struct Proof {
    /// Per piece: proven by goat's own read-back in this session.
    proven: Mutex<Vec<bool>>,
    /// Pieces whose read-back did not match, not yet fetched again.
    failed: Mutex<Vec<u32>>,
}

impl Proof {
    /// Every piece proven in this session (a fresh, uninterrupted download).
    pub fn all_proven(&self) -> bool {
        let p = self.proven.lock().unwrap_or_else(|e| e.into_inner());
        !p.is_empty() && p.iter().all(|x| *x)
    }

    /// Take the failed pieces (to be fetched again).
    pub fn take_failed(&self) -> Vec<u32> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Proofs by info-hash (hex), shared between the factory and the swarm.
pub type Proofs = Arc<Mutex<HashMap<String, Arc<Proof>>>>;

#[derive(Clone)]
pub struct ProvingFactory {
    inner: FilesystemStorageFactory,
    proofs: Proofs,
}

impl ProvingFactory {
    pub fn new(proofs: Proofs) -> ProvingFactory {
        ProvingFactory { inner: FilesystemStorageFactory::default(), proofs }
    }
}

/// One file's place in the torrent's byte stream.
#[derive(Clone, Copy)]
struct Span {
    offset: u64,
    len: u64,
    padding: bool,
}

impl StorageFactory for ProvingFactory {
    type Storage = ProvingStorage;

    fn create(&self, shared: &ManagedTorrentShared, metadata: &TorrentMetadata) -> anyhow::Result<ProvingStorage> {
        let inner = self.inner.create(shared, metadata)?;
        let lengths = *metadata.lengths();
        let hashes: Vec<[u8; 20]> = metadata
            .info
            .info()
            .pieces
            .as_ref()
            .chunks_exact(20)
            .map(|c| c.try_into().unwrap_or([0; 20]))
            .collect();
        let spans = metadata
            .file_infos
            .iter()
            .map(|f| Span { offset: f.offset_in_torrent, len: f.len, padding: f.attrs.padding })
            .collect();
        let proof = Arc::new(Proof {
            proven: Mutex::new(vec![false; lengths.total_pieces() as usize]),
            failed: Mutex::default(),
        });
        self.proofs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hex::encode(shared.info_hash.0), proof.clone());
        Ok(ProvingStorage { inner: Box::new(inner), lengths, hashes: Arc::new(hashes), spans: Arc::new(spans), proof, corrupt: corrupt_hook() })
    }

    /// Forwarded, so librqbit's JSON session persistence (which accepts only
    /// its filesystem storage) still saves and restores goat's torrents.
    fn is_type_id(&self, type_id: std::any::TypeId) -> bool {
        self.inner.is_type_id(type_id)
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

pub struct ProvingStorage {
    inner: Box<dyn TorrentStorage>,
    lengths: librqbit_core::lengths::Lengths,
    hashes: Arc<Vec<[u8; 20]>>,
    spans: Arc<Vec<Span>>,
    proof: Arc<Proof>,
    corrupt: Option<u32>,
}

/// Tests only (`GOAT_TEST_CORRUPT_PIECE=N`): flip a byte of piece N on disk
/// once, right after librqbit wrote and checked it, as a failing disk
/// would; the read-back must catch it and the piece must be fetched again.
fn corrupt_hook() -> Option<u32> {
    std::env::var("GOAT_TEST_CORRUPT_PIECE").ok()?.parse().ok()
}

impl ProvingStorage {
    /// The piece's bytes, read back through librqbit's own file handles.
    fn read_piece(&self, piece: ValidPieceIndex) -> anyhow::Result<Vec<u8>> {
        let start = self.lengths.piece_offset(piece);
        let len = self.lengths.piece_length(piece) as u64;
        let mut buf = vec![0u8; len as usize];
        for (file_id, s) in self.spans.iter().enumerate() {
            let (from, to) = (start.max(s.offset), (start + len).min(s.offset + s.len));
            if from >= to {
                continue;
            }
            let dst = &mut buf[(from - start) as usize..(to - start) as usize];
            if s.padding {
                dst.fill(0);
            } else {
                self.inner.pread_exact(file_id, from - s.offset, dst)?;
            }
        }
        Ok(buf)
    }

    /// Flip one byte of `piece` on disk (the test hook).
    fn corrupt(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        let start = self.lengths.piece_offset(piece);
        if let Some((id, s)) = self.spans.iter().enumerate().find(|(_, s)| !s.padding && s.offset <= start && start < s.offset + s.len) {
            let mut b = [0u8; 1];
            self.inner.pread_exact(id, start - s.offset, &mut b)?;
            b[0] ^= 0xff;
            self.inner.pwrite_all(id, start - s.offset, &b)?;
        }
        Ok(())
    }
}

impl TorrentStorage for ProvingStorage {
    fn init(&mut self, shared: &ManagedTorrentShared, metadata: &TorrentMetadata) -> anyhow::Result<()> {
        self.inner.init(shared, metadata)
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        self.inner.pread_exact(file_id, offset, buf)
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        self.inner.pwrite_all(file_id, offset, buf)
    }

    fn pwrite_all_vectored(&self, file_id: usize, offset: u64, bufs: [IoSlice<'_>; 2]) -> anyhow::Result<usize> {
        self.inner.pwrite_all_vectored(file_id, offset, bufs)
    }

    fn remove_file(&self, file_id: usize, filename: &Path) -> anyhow::Result<()> {
        self.inner.remove_file(file_id, filename)
    }

    fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        self.inner.remove_directory_if_empty(path)
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        self.inner.ensure_file_length(file_id, length)
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(ProvingStorage {
            inner: self.inner.take()?,
            lengths: self.lengths,
            hashes: self.hashes.clone(),
            spans: self.spans.clone(),
            proof: self.proof.clone(),
            corrupt: self.corrupt,
        }))
    }

    fn on_piece_completed(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        self.inner.on_piece_completed(piece)?;
        let i = piece.get();
        if self.corrupt == Some(i) {
            let first = {
                let f = self.proof.failed.lock().unwrap_or_else(|e| e.into_inner());
                !f.contains(&i) && !self.proof.proven.lock().unwrap_or_else(|e| e.into_inner()).get(i as usize).copied().unwrap_or(false)
            };
            // Once per process: the refetched piece must then pass.
            static DONE: std::sync::Once = std::sync::Once::new();
            if first && !DONE.is_completed() {
                DONE.call_once(|| {});
                self.corrupt(piece)?;
            }
        }
        let data = self.read_piece(piece)?;
        let ok = self.hashes.get(i as usize).is_some_and(|want| Sha1::digest(&data)[..] == want[..]);
        if ok {
            if let Some(p) = self.proof.proven.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i as usize) {
                *p = true;
            }
            Ok(())
        } else {
            tracing::warn!(target: "goat", "piece {i} read back from the disk does not match its hash: it will be fetched again");
            self.proof.failed.lock().unwrap_or_else(|e| e.into_inner()).push(i);
            anyhow::bail!("piece {i} failed goat's read-back proof")
        }
    }
}
