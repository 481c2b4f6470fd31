//! Inscriptions as ord 0.29 reads them, goat's second layer: the envelope
//! parser and writer (one wire-format home), tags, content encodings and
//! inscription ids. Judged against `ord decode` in tests/cli/ord_diff.rs.

#![warn(missing_docs)]

pub mod inscription;

use goat_core::{error, text};
