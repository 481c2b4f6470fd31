//! Where goat keeps its files by default (XDG): the daemon's state, the
//! default output and the config file. `goat publish` hands torrents to
//! `goat seed` through the state folder, so both find it here.

use crate::error::{Error, Result};
use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "goat")
}

/// `~/.config/goat/seed.toml` (XDG).
pub fn default_config_file() -> Option<PathBuf> {
    project().map(|d| d.config_dir().join("seed.toml"))
}

/// `~/.local/share/goat` (XDG); the state dir and default output live here.
pub fn default_data_dir() -> Result<PathBuf> {
    project()
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| Error::usage("cannot find a home folder for goat's data: pass --state-dir and -o"))
}
