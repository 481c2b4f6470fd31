//! End-to-end: the real `goat` binary against the Esplora test server.

mod chain;
mod demo;
mod electrum;
mod encryption;
mod faults;
mod fetch;
mod harness;
mod hostile;
mod inscriptions;
mod interop;
mod local;
mod nat;
mod ord_diff;
mod owned;
mod privacy;
mod props;
mod publish;
mod reach;
mod repair;
mod seed;
mod seeder;
mod signed;
mod trust;
mod webseed;
mod witness;
