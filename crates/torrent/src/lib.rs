//! BitTorrent, goat's fifth layer: from a goatfile's magnets to files on
//! disk and back out to peers.
//!
//! [`torrent::Swarm`] is one librqbit session with goat's storage under it
//! (`torrent::storage`: each piece proven as it completes and before its
//! first upload, a bad one never served; files opened only below goat's own
//! folders). Around it: piece steering (`steer`), web seeds bridged into
//! the session (`webseed`, `bridge`), MSE/PE at the gate (`gate`, `mse`),
//! metadata from the chain or peers (`metadata`, `known`), fastresume and
//! durable bitfields (`resume`, `durable`), torrent creation (`create`)
//! and the piece arithmetic (`geometry`).
#![warn(missing_docs)]

pub mod torrent;

use goat_chain::esplora;
use goat_core::{atomic, error, filebuf, hash, safefs, sys, text};
use goat_goatfile::goatfile;
