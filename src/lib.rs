//! goat: keep AI model weights reachable forever.
//!
//! Data flows one way, one module per stage:
//!
//! | stage | module |
//! |---|---|
//! | address → transactions | [`esplora`] (checked Esplora client), [`address`] |
//! | transactions → inscriptions | [`inscription`] (envelope parser, content decoding) |
//! | inscriptions → goatfile | [`goatfile`] (schema), [`trust`] (whose word counts), [`scan`] (the walk) |
//! | goatfile → torrents → files | [`torrent`] (librqbit session) |
//! | files on disk → verification | [`store`] (folder layout, offline verify) |
//!
//! [`subcommand`] is the thin CLI; [`devchain`] is a local Esplora-compatible
//! chain of genuine transactions for tests and demos.

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
