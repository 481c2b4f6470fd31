//! Log lines through `tracing`. One-shot commands stay quiet unless
//! RUST_LOG asks (they report through progress output); the daemon logs
//! what it does at info level by default, librqbit's own lines from warn.

use crate::subcommand::Globals;

/// RUST_LOG wins; otherwise `goat=info,librqbit=warn` (`-q`: warnings
/// only, `-v`: debug).
pub fn init_daemon(g: &Globals) {
    let default = if g.quiet {
        "goat=warn,librqbit=error"
    } else if g.verbose > 0 {
        "goat=debug,librqbit=info"
    } else {
        "goat=info,librqbit=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
