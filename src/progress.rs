//! Progress for people (indicatif bars on a terminal) or for logs (one plain
//! line per event, and a periodic line per entry, when stderr is not a
//! terminal). Quiet and JSON modes print nothing here.

use crate::torrent::Progress;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub enum Mode {
    Bars,
    Plain,
    Silent,
}

pub struct Reporter {
    mode: Mode,
    multi: MultiProgress,
    total: Option<ProgressBar>,
    last_plain: Mutex<std::collections::HashMap<String, Instant>>,
}

/// One entry's display.
pub struct EntryBar {
    name: String,
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub fn new(quiet: bool, json: bool) -> Reporter {
        let mode = if quiet || json {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        };
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Reporter { mode, multi, total: None, last_plain: Mutex::default() }
    }

    /// A one-off event line (kept above the bars).
    pub fn event(&self, msg: impl AsRef<str>) {
        match self.mode {
            Mode::Bars => {
                let _ = self.multi.println(msg.as_ref());
            }
            Mode::Plain => eprintln!("{}", msg.as_ref()),
            Mode::Silent => {}
        }
    }

    /// A spinner while metadata is resolved.
    pub fn metadata_spinner(&self, name: &str) -> EntryBar {
        let bar = match self.mode {
            Mode::Bars => {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(name.to_string());
                b.set_message("resolving metadata…");
                b.enable_steady_tick(Duration::from_millis(120));
                Some(b)
            }
            Mode::Plain => {
                eprintln!("{name}: resolving metadata");
                None
            }
            Mode::Silent => None,
        };
        EntryBar { name: name.to_string(), bar }
    }

    /// Turn a spinner into a byte bar once the size is known.
    pub fn start_transfer(&self, e: &EntryBar, total: u64) {
        if let Some(b) = &e.bar {
            b.set_length(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>16} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
    }

    pub fn total_bar(&mut self, total: u64) {
        if let Mode::Bars = self.mode {
            let b = self.multi.add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template("{prefix:>16} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix("total");
            self.total = Some(b);
        }
    }

    pub fn set_total(&self, have: u64) {
        if let Some(t) = &self.total {
            t.set_position(have);
        }
    }

    pub fn update(&self, e: &EntryBar, p: &Progress) {
        match self.mode {
            Mode::Bars => {
                if let Some(b) = &e.bar {
                    b.set_position(p.have_bytes);
                    b.set_message(format!("{} peers", p.peers));
                }
            }
            Mode::Plain => {
                let mut last = self.last_plain.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.get(&e.name).map(|t| t.elapsed() >= Duration::from_secs(5)).unwrap_or(true);
                if due || p.finished {
                    last.insert(e.name.clone(), Instant::now());
                    let pct =
                        if p.total_bytes == 0 { 100.0 } else { p.have_bytes as f64 * 100.0 / p.total_bytes as f64 };
                    eprintln!(
                        "{}: {pct:.1}% {}/{} {}/s {} peers",
                        e.name,
                        HumanBytes(p.have_bytes),
                        HumanBytes(p.total_bytes),
                        HumanBytes(p.download_bps as u64),
                        p.peers
                    );
                }
            }
            Mode::Silent => {}
        }
    }

    pub fn finish(&self, e: &EntryBar, msg: &str) {
        if let Some(b) = &e.bar {
            b.finish_with_message(msg.to_string());
        }
    }

    pub fn done(&self) {
        if let Some(t) = &self.total {
            t.finish();
        }
    }
}
