//! `goat publish <DIR>... --address <HOLDER>`: the publish workflow
//! (`publish::request`), run as the command line asks.

use super::Globals;
use crate::error::Result;
use clap::Args;

pub use crate::publish::request::{Broadcast, Request};

#[derive(Debug, Args)]
pub struct Publish {
    #[command(flatten)]
    pub request: Request,
}

impl Publish {
    pub async fn run(&self, g: &Globals) -> Result<()> {
        self.request.run(g).await
    }
}
