//! `goat completions <shell>` and `goat man`: generated from the clap
//! definitions, so they never drift from the real options.

use super::{Cli, Globals};
use crate::error::{Error, Result};
use clap::{Args, CommandFactory};
use std::io::Write;

#[derive(Debug, Args)]
pub struct Completions {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

impl Completions {
    pub async fn run(&self, _g: &Globals) -> Result<()> {
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "goat", &mut out);
        write_stdout(&out)
    }
}

#[derive(Debug, Args)]
pub struct Man {}

impl Man {
    /// goat(1) in roff on stdout: `goat man | man -l -`, or
    /// `goat man > /usr/local/share/man/man1/goat.1`.
    pub async fn run(&self, _g: &Globals) -> Result<()> {
        let cmd = Cli::command();
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut out).map_err(|e| Error::io("rendering the man page", e))?;
        // Every subcommand's synopsis and options, so the page documents
        // every option (clap_mangen alone lists only the subcommand names).
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("goat {}", sub.get_name());
            let _ = writeln!(out, ".SH \"{}\"", name.to_uppercase());
            let man = clap_mangen::Man::new(sub.clone().display_name(name.clone()).bin_name(name));
            man.render_description_section(&mut out)
                .and_then(|_| man.render_synopsis_section(&mut out))
                .and_then(|_| man.render_options_section(&mut out))
                .map_err(|e| Error::io("rendering the man page", e))?;
        }
        write_stdout(&out)
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(bytes).and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing to stdout", e)),
    }
}
