//! The command line: one file per subcommand, each a struct with `run()`.

pub mod cat;
pub mod completions;
#[cfg(feature = "devchain")]
pub mod demo;
#[cfg(feature = "devchain")]
pub mod devchain;
pub mod fetch;
pub mod get;
pub mod ls;
pub mod publish;
pub mod resolve;
pub mod seed;
pub mod status;
pub mod verify;

use crate::error::{Error, Result, EXIT_CODES_HELP};
use clap::{Parser, Subcommand as ClapSubcommand};

#[derive(Debug, Parser)]
#[command(
    name = "goat",
    version,
    about = "Fetch the AI models a Bitcoin address published: goatfiles inscribed on-chain, payloads over BitTorrent",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Subcommand,
}

pub use crate::globals::{Globals, Runtime};
pub use crate::trust::TrustArgs;

#[derive(Debug, ClapSubcommand)]
pub enum Subcommand {
    /// Try goat offline: a local chain, a local seeder, a real fetch and verify
    #[cfg(feature = "devchain")]
    Demo(demo::Demo),
    /// List every inscription in an address's history, newest first
    Ls(ls::Ls),
    /// Print the goatfile the address's holder published
    Resolve(resolve::Resolve),
    /// Print an inscription's decoded content (a bare txid means <txid>i0)
    Cat(cat::Cat),
    /// Write an inscription's decoded content to a file
    Get(get::Get),
    /// Resolve the goatfile, download every entry, verify it
    Fetch(fetch::Fetch),
    /// Publish model folders: torrents, a goatfile the holder signs, seeding
    Publish(publish::Publish),
    /// Re-check a fetched folder offline (piece SHA-1 and goatfile sha256)
    Verify(verify::Verify),
    /// Follow addresses and seed their goatfiles' payloads (a daemon)
    Seed(seed::Seed),
    /// Show what a running `goat seed` is doing
    Status(status::StatusCmd),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(completions::Completions),
    /// Print the goat(1) man page (roff)
    Man(completions::Man),
    /// Serve a local Esplora-compatible chain of genuine transactions (tests, demos)
    #[command(hide = true)]
    #[cfg(feature = "devchain")]
    Devchain(devchain::Devchain),
}

impl Cli {
    pub fn run(self) -> Result<()> {
        // RUST_LOG=librqbit=debug etc. shows the BitTorrent layer's own logs.
        let v = crate::logging::Verbosity::from_flags(self.globals.quiet, self.globals.verbose);
        match self.command {
            Subcommand::Seed(_) => crate::logging::init_daemon(v),
            _ => crate::logging::init_cli(v),
        }
        // One thread by default, for every command, the daemon included:
        // librqbit then writes each block inline instead of handing it to
        // `block_in_place`, which measured faster and leaner on both the
        // 2 GiB download and the 100-torrent seed bench (docs/benchmarks.md,
        // "Where librqbit runs"). Hashing and verify run on their own
        // threads either way.
        let current = match self.globals.runtime {
            Runtime::CurrentThread | Runtime::Auto => true,
            Runtime::MultiThread => false,
        };
        let rt = if current {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        } else {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
        }
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
        let g = &self.globals;
        rt.block_on(async move {
            match &self.command {
                #[cfg(feature = "devchain")]
                Subcommand::Demo(c) => c.run(g).await,
                Subcommand::Ls(c) => c.run(g).await,
                Subcommand::Resolve(c) => c.run(g).await,
                Subcommand::Cat(c) => c.run(g).await,
                Subcommand::Get(c) => c.run(g).await,
                Subcommand::Fetch(c) => c.run(g).await,
                Subcommand::Verify(c) => c.run(g).await,
                Subcommand::Publish(c) => c.run(g).await,
                Subcommand::Seed(c) => c.run(g).await,
                Subcommand::Status(c) => c.run(g).await,
                Subcommand::Completions(c) => c.run(g).await,
                Subcommand::Man(c) => c.run(g).await,
                #[cfg(feature = "devchain")]
                Subcommand::Devchain(c) => c.run(g).await,
            }
        })
    }
}
