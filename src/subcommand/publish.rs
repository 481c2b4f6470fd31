//! `goat publish <DIR>... --address <HOLDER>`: the publish workflow
//! (`publish::request`), run as the command line asks.

use super::Globals;
use crate::error::Result;
use clap::Args;

pub use crate::publish::request::{Broadcast, Request, Said};

#[derive(Debug, Args)]
pub struct Publish {
    #[command(flatten)]
    pub request: Request,
}

impl Publish {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        // goat's machine-readable result, a line at a time as it happens.
        self.request.run(g, &|said| said.lines().iter().for_each(|l| println!("{l}"))).await
    }
}
