//! The goatfile, goat's fourth layer: the YAML document a holder inscribes
//! (schema v1, parsed with limits, written back), its magnet URIs, and the
//! holder's signature of it ([`signature`]: BIP 322 over a message that
//! names the address, network, sequence and goatfile, carried as CBOR
//! inscription metadata).
#![warn(missing_docs)]

pub mod goatfile;
pub mod signature;

use goat_chain::{address, consensus};
use goat_core::{hash, safefs, text};
use goat_ord::inscription;
