use clap::Parser;
use goat::subcommand::Cli;

fn main() {
    // Large allocations go back to the OS when freed (why: sys).
    goat::sys::return_large_allocations();
    // Two TLS stacks can end up linked (ring via bitreq, aws-lc-rs via
    // librqbit's reqwest); rustls then refuses to pick one and the first
    // HTTPS request panics. Installing one provider up front avoids that.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A panic inside librqbit on hostile metadata is goat's one-line error,
    // not a backtrace (torrent::metadata::caught).
    goat::torrent::metadata::install_panic_hook();
    // Many files and many peers need more descriptors than the usual soft
    // limit; the hard limit is the user's to set.
    goat::safefs::raise_open_files_limit();

    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            eprintln!("goat: error: {}", goat::text::message(&usage_error(&e)));
            std::process::exit(goat::Kind::Usage.code());
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            std::process::exit(0);
        }
    };
    let quiet = cli.globals.quiet;
    match cli.run() {
        Ok(()) => {}
        Err(e) => {
            if !quiet || e.kind != goat::Kind::Usage {
                // The one place errors reach the terminal: whatever a
                // server, a goatfile or the chain put in the message is
                // made printable here, whichever path built it.
                eprintln!("goat: error: {}", goat::text::message(&e.message));
            }
            std::process::exit(e.kind.code());
        }
    }
}

/// clap's error as goat's one line: its text without the usage and help
/// footer, the problem and any tip joined. clap repeats the offending
/// value (from an argument or an environment variable); the caller makes
/// it printable.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let mut joined = String::new();
    for p in parts {
        if !joined.is_empty() {
            joined.push_str(if p.starts_with("tip:") { "; " } else { " " });
        }
        joined.push_str(p);
    }
    format!("{} (see --help)", joined.strip_prefix("error: ").unwrap_or(&joined))
}
