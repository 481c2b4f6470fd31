//! `goat seed`'s configuration file (TOML) and default folders.
//!
//! Looked up at `--config FILE`, else `$XDG_CONFIG_HOME/goat/seed.toml`
//! (`~/.config/goat/seed.toml`) when it exists. Keys are the long option
//! names; command-line options override the file.
//!
//! ```toml
//! addresses = ["bc1p…", "bc1q…"]
//! output = "/srv/goat"
//! poll = "10m"
//! listen-port = 6881
//! max-upload-rate = "20M"
//! esplora = ["https://mempool.space/api"]
//! ```

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub addresses: Vec<String>,
    pub output: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub esplora: Vec<String>,
    pub network: Option<String>,
    pub poll: Option<String>,
    pub listen_port: Option<u16>,
    pub http: Option<String>,
    pub allow_remote_http: Option<bool>,
    pub max_upload_rate: Option<String>,
    pub max_download_rate: Option<String>,
    pub max_peers: Option<usize>,
    pub prune: Option<bool>,
    pub dht: Option<bool>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub include_mempool: Option<bool>,
    pub trust_any: Option<bool>,
    pub accept_funded_commit: Option<bool>,
    pub metadata_timeout: Option<u64>,
    pub piece_order: Option<crate::torrent::PieceOrder>,
    #[serde(default)]
    pub dht_bootstrap: Vec<String>,
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "goat")
}

/// `~/.config/goat/seed.toml` (XDG).
pub fn default_config_file() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("seed.toml"))
}

/// `~/.local/share/goat` (XDG); the state dir and default output live here.
pub fn default_data_dir() -> Result<PathBuf> {
    dirs()
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| Error::usage("cannot find a home folder for goat's data: pass --state-dir and -o"))
}

/// Read the file at `explicit`, or the default file if it exists.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>)> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_config_file() {
            Some(p) if p.exists() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::usage(format!("cannot read config file {} ({e}): fix the path given to --config", path.display()))
    })?;
    let cfg = parse(&text).map_err(|e| Error::usage(format!("config file {}: {e}", path.display())))?;
    Ok((cfg, Some(path)))
}

pub fn parse(text: &str) -> std::result::Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.message().to_string() + &span_hint(text, e.span()))
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(" (line {})", text[..r.start.min(text.len())].lines().count().max(1)),
        None => String::new(),
    }
}

/// `90`, `90s`, `10m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        Some('d') => (&t[..t.len() - 1], 86400.0),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| Error::usage(format!("duration '{s}' is not like 90s, 10m or 2h")))?;
    let secs = v * mult;
    if !(0.1..=30.0 * 86400.0).contains(&secs) {
        return Err(Error::usage(format!("duration '{s}' is out of range (0.1s to 30d)")));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kebab_keys_and_rejects_unknown_ones() {
        let c = parse("addresses = [\"bc1qx\"]\npoll = \"10m\"\nlisten-port = 6881\nmax-upload-rate = \"2M\"\n").unwrap();
        assert_eq!(c.addresses, vec!["bc1qx"]);
        assert_eq!(c.listen_port, Some(6881));
        let e = parse("adresses = [\"x\"]\n").unwrap_err();
        assert!(e.contains("adresses") && e.contains("line 1"), "{e}");
        assert!(parse("poll = [").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0").is_err());
    }
}
