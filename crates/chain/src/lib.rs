//! The chain, goat's third layer: from a holder's address to proven
//! transactions.
//!
//! | module | job |
//! |---|---|
//! | [`address`] | addresses and networks, parsed and checked |
//! | [`esplora`] | Esplora and Electrum servers behind one client: failover, cross-checks, paging, merkle proofs, witnesses proven against their blocks |
//! | [`consensus`] | Bitcoin Core's script interpreter over a whole transaction |

#![warn(missing_docs)]

pub mod address;
pub mod consensus;
pub mod esplora;

use goat_core::{error, text};
use goat_ord::inscription;
