//! One torrent entry from "librqbit says complete" to "proven on disk":
//! the download lifecycle `goat fetch` and `goat seed` share, so both
//! re-fetch what failed and prove what they keep in the same way.
//!
//! librqbit marks a piece done once its in-memory check passes; goat's
//! storage (`torrent::storage`) then proves it from the disk, and hashes
//! every piece it did not prove before that piece is first served. A piece
//! that fails any of these is refused to peers and recorded; [`Download`]
//! takes the record and has exactly those pieces fetched again
//! (`Swarm::refetch`), up to [`ROUNDS`] times, then proves the files.

use super::{check_sha256, damaged_files};
use crate::error::{Error, Kind, Result};
use crate::goatfile::Magnet;
use crate::store::{Layout, Manifest};
use crate::torrent::{Swarm, Torrent};
use std::time::Duration;

/// How many times pieces that keep failing are fetched again before goat
/// gives the entry up as a failing disk.
pub const ROUNDS: u32 = 3;

/// What one entry's download needs.
pub struct Download<'a> {
    pub swarm: &'a Swarm,
    pub layout: &'a Layout,
    pub manifest: &'a Manifest,
    pub magnet: &'a Magnet,
    pub peers: &'a [String],
}

/// [`Download::refetch_failed`] for a torrent with no manifest (one
/// `goat publish` handed to `goat seed`, seeded from the publisher's
/// folder).
pub async fn refetch_failed(
    swarm: &Swarm,
    t: Torrent,
    magnet: &Magnet,
    peers: &[String],
) -> Result<(Torrent, Vec<u32>)> {
    let Some(proof) = swarm.proof(&t.info_hash()) else {
        return Ok((t, Vec::new()));
    };
    // the prover thread may still be reading back the last pieces
    proof.settled().await;
    let failed = proof.take_failed();
    if failed.is_empty() {
        return Ok((t, failed));
    }
    match swarm.refetch(t, magnet, peers, &failed).await {
        Ok(t) => Ok((t, failed)),
        Err(e) => {
            // Still refused, and fetched again at the next try.
            proof.mark_bad(&failed);
            Err(e)
        }
    }
}

impl Download<'_> {
    fn name(&self) -> &str {
        &self.manifest.entry
    }

    fn named(&self, e: Error) -> Error {
        e.context(self.name())
    }

    /// Pieces goat's storage refused since the last call (a failed write,
    /// a read-back or a first-serve hash that did not match), fetched
    /// again. Returns the torrent (re-added when there were any) and those
    /// pieces.
    pub async fn refetch_failed(&self, t: Torrent) -> Result<(Torrent, Vec<u32>)> {
        refetch_failed(self.swarm, t, self.magnet, self.peers).await.map_err(|e| self.named(e))
    }

    /// After librqbit reports `t` complete: fetch again what failed and
    /// wait for it, then prove the files. A torrent whose every piece goat
    /// proved as it arrived needs only the goatfile's sha256s read; any
    /// other (a resumed download) is re-read whole when `reread`, and the
    /// pieces that fail are fetched again too. `note` hears each round.
    ///
    /// Returns the torrent whatever the outcome: a round that fetched
    /// pieces again re-added it, and a caller that keeps seeding (the
    /// daemon) must hold the new handle, not the one the re-add removed.
    pub async fn settle(&self, t: Torrent, reread: bool, note: impl FnMut(String)) -> (Torrent, Result<()>) {
        let mut t = t;
        let done = self.settle_in(&mut t, reread, note).await;
        (t, done)
    }

    async fn settle_in(&self, t: &mut Torrent, reread: bool, mut note: impl FnMut(String)) -> Result<()> {
        // Set once a re-read has proven every piece but those it sent to
        // be fetched again, which goat's storage proves as they arrive.
        let mut rest_proven = false;
        for round in 0..=ROUNDS {
            let (t2, failed) = self.refetch_failed(t.clone()).await?;
            *t = t2;
            if !failed.is_empty() {
                if round == ROUNDS {
                    break;
                }
                note(format!(
                    "{}: {} piece(s) could not be written or read back wrong; fetching them again",
                    self.name(),
                    failed.len()
                ));
                t.wait(Duration::from_millis(500), |_| {}).await.map_err(|e| self.named(e))?;
                continue;
            }
            // Pieces wholly in local copies goat hashed whole: proven; and
            // those copies' sha256 needs no second read while no piece of
            // them was written since.
            let hashed = self.swarm.vouch(t);
            let proof = self.swarm.proof(&t.info_hash());
            if proof.as_ref().is_some_and(|p| p.all_proven()) || !reread || rest_proven {
                return check_sha256(self.layout, self.manifest, &hashed).await;
            }
            let bad = damaged_files(self.layout, self.manifest).await?;
            if bad.is_empty() {
                return Ok(());
            }
            let (l, m, files) = (self.layout.clone(), self.manifest.clone(), bad.clone());
            let (_, pieces) = tokio::task::spawn_blocking(move || {
                crate::store::verify::recheck_files(&l, &m, &files, crate::store::verify::default_threads())
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
            if pieces.is_empty() {
                // A file goat cannot read (gone, shorter): the re-read names it.
                return super::prove(self.layout, std::slice::from_ref(self.manifest), true).await;
            }
            let pieces: Vec<u32> = pieces.into_iter().filter_map(|p| u32::try_from(p).ok()).collect();
            match &proof {
                Some(p) => p.mark_bad(&pieces),
                None => return Err(Error::internal("a torrent without goat's storage")),
            }
            rest_proven = true;
        }
        Err(Error::new(
            Kind::Corrupt,
            format!(
                "{}: pieces could not be written or read back wrong after {ROUNDS} fetches: the disk or its folder is failing",
                self.name()
            ),
        ))
    }
}
