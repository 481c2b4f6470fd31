//! What `goat seed` reports, as snapshots: JSON at `/status`, Prometheus
//! text at `/metrics`, and the plain text `goat status` prints.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    /// Unix seconds.
    pub started_at: u64,
    pub now: u64,
    /// TCP port peers reach this daemon on.
    pub listen_port: Option<u16>,
    /// Whether peers reach it over uTP too (on the UDP port of that number).
    #[serde(default)]
    pub utp: bool,
    /// UDP port of its DHT node (None: the DHT is off).
    #[serde(default)]
    pub dht_port: Option<u16>,
    /// The listening port mapped on the gateway with UPnP (None: not
    /// asked, as with --no-upnp).
    #[serde(default)]
    pub mapping: Option<crate::torrent::portmap::Mapping>,
    pub output: String,
    pub state_dir: String,
    pub poll_seconds: u64,
    pub addresses: Vec<AddressStatus>,
    pub torrents: Vec<TorrentStatus>,
    /// Torrents `goat publish` handed over that are not served, and why
    /// (a file missing, a link, or a size that is not the torrent's).
    #[serde(default)]
    pub published_errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AddressStatus {
    pub address: String,
    /// Folder holding this address's entries.
    pub dir: String,
    /// Inscription id of the goatfile followed now.
    pub goatfile: Option<String>,
    pub goatfile_name: Option<String>,
    /// Block height of the goatfile (None: unconfirmed or not found yet).
    pub block_height: Option<u32>,
    pub entries: Vec<String>,
    pub polls: u64,
    pub poll_errors: u64,
    /// Unix seconds of the last poll attempt / the last successful one.
    pub last_poll: Option<u64>,
    pub last_success: Option<u64>,
    /// The last poll's error; None once a poll succeeds again.
    pub last_error: Option<String>,
    /// The holder's sequence of the newest goatfile followed: the daemon
    /// never goes back before it.
    #[serde(default)]
    pub sequence: Option<u64>,
    /// An older goatfile the last poll offered and the daemon refused to
    /// go back to, in words (None once polls offer the newest again).
    #[serde(default)]
    pub rollback_refused: Option<String>,
    pub next_poll: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TorrentStatus {
    pub address: String,
    pub entry: String,
    pub info_hash: String,
    pub state: TorrentState,
    /// Still listed by the address's current goatfile.
    pub in_goatfile: bool,
    pub have_bytes: u64,
    pub total_bytes: u64,
    /// Totals over this daemon's run.
    pub uploaded_bytes: u64,
    pub downloaded_bytes: u64,
    /// Uploaded bytes over the torrent's size.
    pub ratio: f64,
    pub peers: u32,
    pub download_bps: f64,
    pub upload_bps: f64,
    pub error: Option<String>,
    /// Times goat has restarted this torrent after an error, this run.
    #[serde(default)]
    pub retries: u32,
    /// Unix seconds of the next restart, while in `error`.
    #[serde(default)]
    pub next_retry: Option<u64>,
    /// Pieces goat refused to serve (a failed write, a read-back or a
    /// first-serve hash that did not match) and fetched again, this run.
    #[serde(default)]
    pub refetched_pieces: u64,
    /// Of `downloaded_bytes`, those from web seeds (BEP 19), this run.
    #[serde(default)]
    pub web_seed_bytes: u64,
    /// Of `peers`, those connected with MSE/PE, and of those the ones
    /// whose payload is RC4 (the rest encrypted the handshake only).
    #[serde(default)]
    pub encrypted_peers: u32,
    #[serde(default)]
    pub rc4_peers: u32,
    /// Of `peers`, those connected over uTP.
    #[serde(default)]
    pub utp_peers: u32,
    /// DHT nodes that stored goat's last announce of the torrent (absent:
    /// not announced, as with the DHT off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht_stored: Option<usize>,
}

/// Where a torrent is in the daemon's life, as `/status` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorrentState {
    /// librqbit is checking or downloading.
    #[default]
    Fetching,
    /// Downloaded; goat is proving the files.
    Verifying,
    /// Complete, proven, serving peers.
    Seeding,
    /// Stopped by an error (see `error`).
    Error,
}

impl std::fmt::Display for TorrentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            TorrentState::Fetching => "fetching",
            TorrentState::Verifying => "verifying",
            TorrentState::Seeding => "seeding",
            TorrentState::Error => "error",
        })
    }
}

/// Prometheus label value escaping (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Status {
    /// goat's own series in Prometheus text format (librqbit's session
    /// counters are appended by the caller).
    pub fn prometheus(&self) -> String {
        let mut o = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(o, "{name}{{{labels}}} {v}");
            }
        };
        let a = |s: &AddressStatus| format!("address=\"{}\"", label(&s.address));
        family(
            "goat_address_polls_total",
            "counter",
            "Goatfile polls of this address.",
            self.addresses.iter().map(|s| (a(s), s.polls as f64)).collect(),
        );
        family(
            "goat_address_poll_errors_total",
            "counter",
            "Polls that failed (Esplora down, no goatfile...).",
            self.addresses.iter().map(|s| (a(s), s.poll_errors as f64)).collect(),
        );
        family(
            "goat_address_up",
            "gauge",
            "1 when the last poll succeeded.",
            self.addresses
                .iter()
                .map(|s| (a(s), if s.last_error.is_none() && s.last_success.is_some() { 1.0 } else { 0.0 }))
                .collect(),
        );
        family(
            "goat_address_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful poll.",
            self.addresses.iter().map(|s| (a(s), s.last_success.unwrap_or(0) as f64)).collect(),
        );
        let t = |s: &TorrentStatus| {
            format!(
                "address=\"{}\",entry=\"{}\",info_hash=\"{}\"",
                label(&s.address),
                label(&s.entry),
                label(&s.info_hash)
            )
        };
        family(
            "goat_torrent_size_bytes",
            "gauge",
            "Size of the torrent's payload.",
            self.torrents.iter().map(|s| (t(s), s.total_bytes as f64)).collect(),
        );
        family(
            "goat_torrent_have_bytes",
            "gauge",
            "Verified bytes on disk.",
            self.torrents.iter().map(|s| (t(s), s.have_bytes as f64)).collect(),
        );
        family(
            "goat_torrent_uploaded_bytes_total",
            "counter",
            "Bytes sent to peers.",
            self.torrents.iter().map(|s| (t(s), s.uploaded_bytes as f64)).collect(),
        );
        family(
            "goat_torrent_downloaded_bytes_total",
            "counter",
            "Bytes received from peers.",
            self.torrents.iter().map(|s| (t(s), s.downloaded_bytes as f64)).collect(),
        );
        family(
            "goat_torrent_web_seed_bytes_total",
            "counter",
            "Bytes received from web seeds (BEP 19).",
            self.torrents.iter().map(|s| (t(s), s.web_seed_bytes as f64)).collect(),
        );
        family(
            "goat_torrent_peers",
            "gauge",
            "Connected peers.",
            self.torrents.iter().map(|s| (t(s), s.peers as f64)).collect(),
        );
        family(
            "goat_torrent_encrypted_peers",
            "gauge",
            "Connected peers that opened with MSE/PE.",
            self.torrents.iter().map(|s| (t(s), s.encrypted_peers as f64)).collect(),
        );
        family(
            "goat_torrent_seeding",
            "gauge",
            "1 when the torrent is complete, verified and seeding.",
            self.torrents.iter().map(|s| (t(s), if s.state == TorrentState::Seeding { 1.0 } else { 0.0 })).collect(),
        );
        family(
            "goat_torrent_retries_total",
            "counter",
            "Restarts after an error.",
            self.torrents.iter().map(|s| (t(s), s.retries as f64)).collect(),
        );
        family(
            "goat_torrent_refetched_pieces_total",
            "counter",
            "Pieces refused to peers as bad and fetched again.",
            self.torrents.iter().map(|s| (t(s), s.refetched_pieces as f64)).collect(),
        );
        o
    }

    /// How peers reach the daemon: uTP, the DHT's port, the gateway's
    /// mapping.
    fn reach(&self) -> String {
        let utp = if self.utp { "TCP and uTP" } else { "TCP only" };
        let dht = self.dht_port.map(|p| format!("DHT on UDP {p}")).unwrap_or_else(|| "DHT off".into());
        let map = match &self.mapping {
            None => "port mapping off".to_string(),
            Some(m) => match (&m.external, &m.error) {
                (Some(at), err) => format!(
                    "reachable at {at} through the gateway ({}, {}, {}){}",
                    m.service.as_deref().map(crate::text::line).unwrap_or_else(|| "UPnP".into()),
                    crate::text::line(&m.protocols.join("+")),
                    if m.lease_seconds == 0 {
                        "permanent lease".to_string()
                    } else {
                        format!("lease {} s", m.lease_seconds)
                    },
                    err.as_deref().map(|e| format!("; {}", crate::text::line(e))).unwrap_or_default()
                ),
                (None, _) if !m.protocols.is_empty() => {
                    format!(
                        "port mapped on the gateway ({}), its external address unknown",
                        crate::text::line(&m.protocols.join("+"))
                    )
                }
                (None, Some(e)) => format!("port not mapped: {}", crate::text::line(e)),
                (None, None) => "port mapping: looking for the gateway".into(),
            },
        };
        format!("peers over {utp}; {dht}; {map}")
    }

    /// The text `goat status` prints.
    pub fn human(&self) -> String {
        let mut o = String::new();
        let up = self.now.saturating_sub(self.started_at);
        let _ = writeln!(
            o,
            "goat seed {}: up {}, peers port {}, polling every {}",
            self.version,
            duration(up),
            self.listen_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            duration(self.poll_seconds)
        );
        let _ = writeln!(o, "{}", self.reach());
        let _ = writeln!(o, "files in {}", self.output);
        for a in &self.addresses {
            let gf = match (&a.goatfile, &a.goatfile_name) {
                (Some(id), Some(n)) => format!("goatfile '{}' {id}", crate::text::printable(n, 60)),
                (Some(id), None) => format!("goatfile {id}"),
                _ => "no goatfile yet".into(),
            };
            let gf = match a.sequence {
                Some(n) => format!("{gf} (sequence {n})"),
                None => gf,
            };
            let when = a
                .last_poll
                .map(|t| format!("polled {} ago", duration(self.now.saturating_sub(t))))
                .unwrap_or_else(|| "not polled yet".into());
            let health = match &a.last_error {
                Some(e) => format!("ERROR: {}", crate::text::line(e)),
                None => "ok".into(),
            };
            let _ = writeln!(o, "\n{}  {gf}, {when}, {health}", a.address);
            if let Some(r) = &a.rollback_refused {
                let _ = writeln!(o, "  not going back: {}", crate::text::line(r));
            }
            for t in self.torrents.iter().filter(|t| t.address == a.address) {
                let _ = writeln!(
                    o,
                    "  {:<24} {:<10} {:>10}/{:<10} up {:>10} ratio {:>5.2} peers {:>3}{}{}{}",
                    crate::text::printable(&t.entry, 60),
                    t.state,
                    bytes(t.have_bytes),
                    bytes(t.total_bytes),
                    bytes(t.uploaded_bytes),
                    t.ratio,
                    t.peers,
                    if t.encrypted_peers > 0 { format!(" ({} encrypted)", t.encrypted_peers) } else { String::new() },
                    if t.in_goatfile { "" } else { "  (dropped from the goatfile)" },
                    t.error.as_ref().map(|e| format!("  error: {}", crate::text::line(e))).unwrap_or_default()
                );
                if let Some(at) = t.next_retry {
                    let _ = writeln!(
                        o,
                        "  {:<24} retry {} in {}",
                        "",
                        t.retries + 1,
                        duration(at.saturating_sub(self.now))
                    );
                }
                if t.web_seed_bytes > 0 {
                    let _ = writeln!(o, "  {:<24} {} from web seeds", "", bytes(t.web_seed_bytes));
                }
                if t.refetched_pieces > 0 {
                    let _ = writeln!(
                        o,
                        "  {:<24} {} bad piece(s) refused to peers and fetched again",
                        "", t.refetched_pieces
                    );
                }
            }
        }
        for e in &self.published_errors {
            let _ = writeln!(o, "\npublished, not served: {}", crate::text::line(e));
        }
        o
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_escape_labels_and_show_state() {
        let s = Status {
            addresses: vec![AddressStatus {
                address: "a\"b".into(),
                polls: 3,
                last_success: Some(5),
                ..Default::default()
            }],
            torrents: vec![TorrentStatus {
                address: "a\"b".into(),
                entry: "m".into(),
                info_hash: "00".into(),
                state: TorrentState::Seeding,
                uploaded_bytes: 7,
                ..Default::default()
            }],
            ..Default::default()
        };
        let m = s.prometheus();
        assert!(m.contains("goat_address_polls_total{address=\"a\\\"b\"} 3"), "{m}");
        assert!(m.contains("goat_address_up{address=\"a\\\"b\"} 1"), "{m}");
        assert!(m.contains("goat_torrent_seeding{address=\"a\\\"b\",entry=\"m\",info_hash=\"00\"} 1"), "{m}");
        assert!(
            m.contains("goat_torrent_uploaded_bytes_total{address=\"a\\\"b\",entry=\"m\",info_hash=\"00\"} 7"),
            "{m}"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(duration(90), "90s");
        assert_eq!(duration(3 * 3600 + 120), "3h02m");
    }
}
