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
    /// The exit code the process ends with for this kind.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error with a one-line message that names the problem and what to do.
///
/// The kind is decided where the error is made (whose fault it is is known
/// there, not above); context added on the way up keeps it, and keeps the
/// error underneath ([`Error::source`]), so a caller that must tell one
/// failure from another asks for its type ([`Error::find`]) instead of
/// reading the message's words.
#[derive(Debug)]
pub struct Error {
    /// Whose fault it is, which decides the exit code.
    pub kind: Kind,
    /// The one line the user reads: the problem and what to do.
    pub message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` saying `message`, with no error underneath it.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// The same error, with `cause` as the error underneath it.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(cause));
        self
    }

    /// The same error (its kind, what caused it), its message led by
    /// `what`: "what: message".
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The first error of type `T` in the chain below this one.
    pub fn find<T: std::error::Error + 'static>(&self) -> Option<&T> {
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            if let Some(t) = e.downcast_ref::<T>() {
                return Some(t);
            }
            next = e.source();
        }
        None
    }
    /// A [`Kind::Usage`] error: the command line is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
    /// A [`Kind::NotFound`] error: the thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    /// A [`Kind::Network`] error: no server gave an answer.
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Network, message)
    }
    /// A [`Kind::InvalidData`] error: data was received but is invalid or dishonest.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidData, message)
    }
    /// A [`Kind::Io`] error, "context: err", with what to do when the disk is full
    /// or permission is denied; `err` is kept as its source.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::StorageFull => ": the disk is full, free some space and run again",
            std::io::ErrorKind::PermissionDenied => ": check the folder's permissions",
            _ => "",
        };
        Self::new(Kind::Io, format!("{context}: {err}{hint}")).caused_by(err)
    }
    /// A [`Kind::Internal`] error: a bug or an unexpected local failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// goat's result: its error is goat's [`Error`] unless another is named.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind_and_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "nope");
        let e = Error::io("writing f", io).context("model");
        assert_eq!(e.kind, Kind::Io);
        assert!(e.message.starts_with("model: writing f: nope"), "{}", e.message);
        assert_eq!(e.find::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::PermissionDenied));
        assert!(Error::usage("x").find::<std::io::Error>().is_none());
    }
}
