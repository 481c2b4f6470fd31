//! goat: keep AI model weights reachable forever.
//!
//! Data flows one way, one stage per module; the lower stages are crates of
//! the workspace, re-exported here under their module names
//! (docs/architecture.md has the crate graph):
//!
//! | stage | module | crate |
//! |---|---|---|
//! | errors, text, hashes, files | [`error`], [`text`], [`hash`], [`safefs`], [`atomic`], [`filebuf`], [`sys`] | goat-core |
//! | transactions → inscriptions | [`inscription`] (envelope parser and writer, content decoding) | goat-ord |
//! | address → transactions | [`address`], [`esplora`] (checked Esplora and Electrum client), [`consensus`] | goat-chain |
//! | inscriptions → goatfile | [`goatfile`] (schema, magnets), `trust::signature` | goat-goatfile |
//! | goatfile → torrents → files | [`torrent`] (librqbit session, goat's storage) | goat-torrent |
//! | whose word counts, the walk | [`trust`], [`scan`] | goat |
//! | files on disk → verification | [`store`] (folder layout, offline verify), [`local`] (copies already on disk) | goat |
//! | workflows | [`fetcher`] (one entry; `fetcher::request`, the whole fetch), [`publish`], [`seed`] (the daemon) | goat |
//! | options | [`globals`], [`options`] (each set declared once) | goat |
//!
//! [`subcommand`] is the thin CLI; `devchain` (feature `devchain`, on by
//! default) is a local Esplora- and Electrum-compatible chain of genuine
//! transactions for tests and `goat demo`.

pub use goat_chain::address;
pub use goat_chain::consensus;
pub use goat_chain::esplora;
pub use goat_core::atomic;
pub use goat_core::error;
#[cfg(feature = "devchain")]
pub use goat_devchain as devchain;
pub mod fetcher;
pub use goat_core::filebuf;
pub use goat_core::hash;
pub use goat_goatfile::goatfile;
pub use goat_ord::inscription;
pub mod globals;
pub mod local;
pub mod logging;
pub mod options;
pub mod progress;
pub mod publish;
pub use goat_core::safefs;
pub mod scan;
pub mod seed;
pub mod store;
pub mod subcommand;
pub use goat_core::sys;
pub use goat_core::text;
pub use goat_torrent::torrent;
pub mod trust;

pub use error::{Error, Kind, Result};
