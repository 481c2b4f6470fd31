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

pub mod address;
pub mod atomic;
pub mod consensus;
pub mod devchain;
pub mod error;
pub mod esplora;
pub mod fetcher;
pub mod filebuf;
pub mod goatfile;
pub mod hash;
pub mod inscription;
pub mod local;
pub mod logging;
pub mod options;
pub mod progress;
pub mod publish;
pub mod safefs;
pub mod scan;
pub mod seed;
pub mod store;
pub mod subcommand;
pub mod sys;
pub mod text;
pub mod torrent;
pub mod trust;

pub use error::{Error, Kind, Result};
