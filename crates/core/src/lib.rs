//! The bottom layer of goat: what every stage above uses and nothing of
//! goat's own is below.
//!
//! | module | job |
//! |---|---|
//! | [`error`] | goat's error, its kinds and their exit codes |
//! | [`text`] | untrusted text made printable, other people's messages made one line |
//! | [`hash`] | SHA-1 and sha256, chosen by measurement |
//! | [`safefs`] | files below a folder, opened without following links; path rules |
//! | [`atomic`] | writes a crash never leaves half done |
//! | [`filebuf`] | buffers placed where the kernel copies at full speed |
//! | [`sys`] | the system calls no kept crate wraps (the only `unsafe`) |

#![warn(missing_docs)]

pub mod atomic;
pub mod error;
pub mod filebuf;
pub mod hash;
pub mod safefs;
pub mod sys;
pub mod text;

pub use error::{Error, Kind, Result};
