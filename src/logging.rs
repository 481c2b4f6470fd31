//! Log lines through `tracing`, set up once per process by the CLI.
//!
//! One-shot commands (`ls`, `resolve`, `fetch`, …) show goat's warnings as
//! plain `goat: warning: …` lines (a server caught lying, a server that did
//! not answer), and with `-v` what goat does (requests, retries, failovers).
//! The daemon logs what it does at info level with timestamps, librqbit's
//! own lines from warn. RUST_LOG always wins.
//!
//! This module takes plain values, not the CLI's types, so `subcommand/`
//! depends on it and not the other way round.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How chatty to be: `-q`, default, `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: u8) -> Self {
        if quiet {
            Verbosity::Quiet
        } else if verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logging for one-shot commands.
pub fn init_cli(v: Verbosity) {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter(""))
            .with_writer(std::io::stderr)
            .fmt_fields(safe_fields())
            .try_init();
        return;
    }
    let default = match v {
        Verbosity::Quiet => "goat=error",
        Verbosity::Normal => "goat=warn",
        Verbosity::Verbose => "goat=debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr)
        .fmt_fields(safe_fields())
        .event_format(Plain)
        .try_init();
}

/// Logging for the daemon: `goat=info,librqbit=warn` by default.
/// librqbit-utp warns at every start when the kernel caps the UDP receive
/// buffer below the 160 MiB it asks for (`net.core.rmem_max`, 208 KiB on
/// most systems): advice for one tuning, not news; docs/fetching.md says it.
pub fn init_daemon(v: Verbosity) {
    let default = match v {
        Verbosity::Quiet => "goat=warn,librqbit=error",
        Verbosity::Normal => "goat=info,librqbit=warn,librqbit_utp=error",
        Verbosity::Verbose => "goat=debug,librqbit=info",
    };
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .fmt_fields(safe_fields())
        .try_init();
}

/// Every logged value through the sanitizer (`crate::text`): log lines
/// carry names from the chain, goatfiles, torrents and servers' words,
/// and any of them could hold terminal escapes. (Sanitizing the writer's
/// bytes instead would also strip the daemon's own colours.)
fn safe_fields() -> impl for<'w> FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let v = crate::text::message(&format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{v}")
        } else {
            write!(w, "{}={v}", field.name())
        }
    })
    .delimited(" ")
}

/// `goat: warning: message` lines, like the `goat: error:` line main prints.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        match *event.metadata().level() {
            Level::ERROR => write!(w, "goat: error: ")?,
            Level::WARN => write!(w, "goat: warning: ")?,
            _ => write!(w, "goat: ")?,
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
