//! One error type for the whole program, carrying the exit code the user sees.
//!
//! Every failure is classified by *whose fault it is*, because that is what
//! decides what the user should do next: fix the command line, try another
//! server, or stop trusting the data.

use std::fmt;

/// Exit codes, documented in `goat --help` and docs/fetching.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 1: a bug or an unexpected local failure.
    Internal = 1,
    /// 2: the command line is wrong (bad address, wrong network, bad option).
    Usage = 2,
    /// 3: the thing asked for does not exist (no goatfile, unknown inscription).
    NotFound = 3,
    /// 4: no Esplora server gave an answer (down, rate limited, timed out).
    Network = 4,
    /// 5: data was received but is invalid or dishonest (tx bytes that do not
    /// hash to the txid, undecodable content, a goatfile that does not parse).
    InvalidData = 5,
    /// 6: local I/O failed (disk full, permission denied).
    Io = 6,
    /// 7: files on disk do not match their hashes (piece SHA-1 or goatfile sha256).
    Corrupt = 7,
    /// 130: interrupted (Ctrl-C); run the same command again to resume.
    Interrupted = 130,
}

impl Kind {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error with a one-line message that names the problem and what to do.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Network, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidData, message)
    }
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::StorageFull => ": the disk is full, free some space and run again",
            std::io::ErrorKind::PermissionDenied => ": check the folder's permissions",
            _ => "",
        };
        Self::new(Kind::Io, format!("{context}: {err}{hint}"))
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The exit-code table shown at the end of `goat --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  usage error: bad option, malformed address, address of the wrong network
  3  not found: no goatfile at the address, unknown transaction or inscription
  4  network: no Esplora server answered (down, rate limited, timed out)
  5  invalid data: a server sent bytes that fail verification, or content
     that cannot be decoded or parsed
  6  local I/O error: disk full, permission denied
  7  verification failed: a file does not match its piece hashes or sha256
130  interrupted (Ctrl-C): run the same command again to resume";
