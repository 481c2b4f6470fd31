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
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { goat::Kind::Usage.code() } else { 0 });
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
