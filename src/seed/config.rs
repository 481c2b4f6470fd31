//! `goat seed`'s options: the command line and the configuration file
//! (TOML) are one definition, [`Settings`].
//!
//! Each option is declared once, with its clap attributes for the command
//! line and its serde attributes for the file; the file's keys are the long
//! option names (`--max-upload-rate` is `max-upload-rate`). [`merge`] lays
//! the command line over the file field by field through serde, so a new
//! option needs no hand-written merge: lists are joined (addresses from both
//! are followed), anything else given on the command line wins.
//!
//! The file is `--config FILE`, else `$XDG_CONFIG_HOME/goat/seed.toml`
//! (`~/.config/goat/seed.toml`) when it exists.
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
use crate::options::{HttpListen, Interval, NetworkName, SwarmArgs};
use crate::trust::{is_false, TrustArgs};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `goat seed` option. Fields marked `serde(skip)` exist on the
/// command line only; fields marked `arg(skip)` in the file only (their
/// command-line form is the global `--esplora` / `--network`).
#[derive(Debug, Default, Clone, Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// Holders' Bitcoin addresses to follow (added to the config file's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Root folder; each address gets DIR/<address>/ [default: ~/.local/share/goat/files]
    #[arg(short, long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// Where the session, fastresume data and goat's file stamps live
    /// [default: ~/.local/share/goat/state]
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// How often to re-resolve each address (e.g. 90s, 10m, 1h) [default: 5m]
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Interval>,
    /// Stop seeding entries dropped from a goatfile (their files are kept).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub prune: bool,
    /// Follow an address back to an older goatfile than the newest one
    /// followed (a lower sequence), without a proven reorg. Off: a poll
    /// that offers an older one is refused, and seeding goes on.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_rollback: bool,
    /// Status endpoint address, or "off" [default: 127.0.0.1:4628]
    #[arg(long, value_name = "IP:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpListen>,
    /// Allow --http on a non-loopback address (it has no authentication).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_remote_http: bool,
    /// Also look for local copies of new entries' files in this folder
    /// (repeatable; added to the file's): a file whose size and sha256
    /// match is linked or copied in instead of downloaded, then seeded
    /// (docs/seeding.md, "Local copies").
    #[arg(long = "from", value_name = "DIR")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<PathBuf>,
    /// Do not look for local copies (the Hugging Face cache, from).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_local: bool,
    /// Esplora servers (file only; on the command line: the global --esplora).
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub esplora: Vec<String>,
    /// Network (file only; on the command line: the global --network).
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkName>,
    /// Electrum servers (file only; on the command line: the global --electrum).
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub electrum: Vec<String>,
    /// Esplora proxy (file only; on the command line: the global --esplora-proxy).
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub esplora_proxy: Option<String>,
    /// Extra CA file for Esplora (file only; on the command line: the global --esplora-ca).
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub esplora_ca: Option<PathBuf>,
    /// Tor's SOCKS port, "127.0.0.1:9050" (file only; on the command line: the global --tor).
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tor: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub swarm: SwarmArgs,

    /// TOML config file [default: ~/.config/goat/seed.toml if it exists]
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Do not serve the status endpoint.
    #[arg(long, conflicts_with = "http")]
    #[serde(skip)]
    pub no_http: bool,
    /// Stop by itself after this many seconds (tests, demos).
    #[arg(long, hide = true, value_name = "SECS")]
    #[serde(skip)]
    pub run_for: Option<f64>,

    /// Keys of the file that no option knows (kept last: serde fills it
    /// with whatever the fields above did not take).
    #[arg(skip)]
    #[serde(flatten, skip_serializing)]
    unknown: BTreeMap<String, toml::Value>,
}

pub use crate::store::dirs::{default_config_file, default_data_dir};

/// Read the file at `explicit`, or the default file if it exists.
pub fn load(explicit: Option<&Path>) -> Result<(Settings, Option<PathBuf>)> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_config_file() {
            Some(p) if p.exists() => p,
            _ => return Ok((Settings::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::usage(format!("cannot read config file {} ({e}): fix the path given to --config", path.display()))
    })?;
    let cfg = parse(&text).map_err(|e| Error::usage(format!("config file {}: {e}", path.display())))?;
    Ok((cfg, Some(path)))
}

/// Parse a config file; an unknown key is an error (a typo must not drop a
/// setting silently), and so is a command-line-only option.
pub fn parse(text: &str) -> std::result::Result<Settings, String> {
    let s: Settings = toml::from_str(text).map_err(|e| e.message().to_string() + &span_hint(text, e.span()))?;
    if let Some(key) = s.unknown.keys().next() {
        let line = text.lines().position(|l| l.trim_start().starts_with(key.as_str())).map(|i| i + 1);
        return Err(format!(
            "unknown key '{}'{}: keys are goat seed's long option names (goat seed --help)",
            crate::text::printable(key, 60),
            line.map(|l| format!(" (line {l})")).unwrap_or_default()
        ));
    }
    Ok(s)
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(" (line {})", text[..r.start.min(text.len())].lines().count().max(1)),
        None => String::new(),
    }
}

/// The command line laid over the file: lists are joined (without
/// repeats), every other option given on the command line replaces the
/// file's. Command-line-only options come from `cli`.
pub fn merge(file: &Settings, cli: &Settings) -> Result<Settings> {
    let bad = |e: serde_json::Error| Error::internal(format!("merging goat seed's options: {e}"));
    let serde_json::Value::Object(mut base) = serde_json::to_value(file).map_err(bad)? else {
        return Err(Error::internal("settings are not a map"));
    };
    let serde_json::Value::Object(over) = serde_json::to_value(cli).map_err(bad)? else {
        return Err(Error::internal("settings are not a map"));
    };
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(serde_json::Value::Array(have)), serde_json::Value::Array(more)) => {
                for v in more {
                    if !have.contains(&v) {
                        have.push(v);
                    }
                }
            }
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
    let mut merged: Settings = serde_json::from_value(serde_json::Value::Object(base)).map_err(bad)?;
    merged.config = cli.config.clone();
    merged.no_http = cli.no_http;
    merged.swarm.loopback = cli.swarm.loopback;
    merged.run_for = cli.run_for;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kebab_keys_and_rejects_unknown_ones() {
        let c = parse(
            "addresses = [\"bc1qx\"]\npoll = \"10m\"\nlisten-port = 6881\nmax-upload-rate = \"2M\"\nno-dht = true\naccept-funded-commit = true\n",
        )
        .unwrap();
        assert_eq!(c.addresses, vec!["bc1qx"]);
        assert_eq!(c.swarm.listen_port, Some(6881));
        assert_eq!(c.swarm.max_upload_rate, Some(crate::options::Rate(2 << 20)));
        assert!(c.swarm.no_dht && c.trust.accept_funded_commit && !c.trust.trust_any);
        let e = parse("poll = \"1m\"\nadresses = [\"x\"]\n").unwrap_err();
        assert!(e.contains("adresses") && e.contains("line 2"), "{e}");
        // command-line-only options are not file keys
        assert!(parse("run-for = 3\n").unwrap_err().contains("run-for"));
        assert!(parse("config = \"x\"\n").unwrap_err().contains("config"));
        assert!(parse("poll = [").is_err());
        assert!(parse("listen-port = 99999\n").is_err());
        assert_eq!(
            parse("encryption = \"require\"\n").unwrap().swarm.encryption,
            Some(crate::torrent::gate::Encryption::Require)
        );
        // Typed values are checked as the file is read.
        assert!(parse("max-upload-rate = \"fast\"\n").unwrap_err().contains("rate 'fast'"));
        assert!(parse("poll = \"soon\"\n").unwrap_err().contains("duration 'soon'"));
        assert!(parse("request-window = 0\n").is_err(), "a window of no requests");
        assert_eq!(parse("request-window = 64\n").unwrap().swarm.request_window.map(|n| n.get()), Some(64));
        assert!(parse("network = \"moon\"\n").unwrap_err().contains("unknown network 'moon'"));
        assert!(parse("http = \"here\"\n").unwrap_err().contains("'here'"));
        assert_eq!(parse("http = \"off\"\n").unwrap().http, Some(HttpListen::Off));
        assert!(parse("encryption = \"always\"\n").unwrap_err().contains("always"));
    }

    #[test]
    fn command_line_wins_and_lists_join() {
        let file =
            parse("addresses = [\"a\", \"b\"]\npoll = \"10m\"\nprune = true\nlisten-port = 1\npeers = [\"p:1\"]\n")
                .unwrap();
        let cli = Settings {
            addresses: vec!["b".into(), "c".into()],
            poll: Some("7s".parse().unwrap()),
            swarm: SwarmArgs { peers: vec!["q:2".into()], ..Default::default() },
            run_for: Some(3.0),
            ..Default::default()
        };
        let m = merge(&file, &cli).unwrap();
        assert_eq!(m.addresses, vec!["a", "b", "c"]);
        assert_eq!(m.poll, Some(Interval(std::time::Duration::from_secs(7))));
        assert_eq!(m.swarm.listen_port, Some(1));
        assert!(m.prune, "a flag left off on the command line keeps the file's true");
        assert_eq!(m.swarm.peers, vec!["p:1", "q:2"]);
        assert_eq!(m.run_for, Some(3.0));
    }
}
