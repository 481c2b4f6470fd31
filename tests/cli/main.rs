//! End-to-end: the real `goat` binary against the Esplora test server.

mod chain;
mod faults;
mod harness;
mod inscriptions;
