use clap::Parser;
use goat::subcommand::Cli;

fn main() {
    // Two TLS stacks can end up linked (ring via bitreq, aws-lc-rs via
    // librqbit's reqwest); rustls then refuses to pick one and the first
    // HTTPS request panics. Installing one provider up front avoids that.
    let _ = rustls::crypto::ring::default_provider().install_default();

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
                eprintln!("goat: error: {}", e.message);
            }
            std::process::exit(e.kind.code());
        }
    }
}
