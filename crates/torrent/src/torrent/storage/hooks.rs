//! Faults injected once per process, as a failing disk would produce them,
//! for the tests that prove goat recovers from them. Only builds with the
//! `test-hooks` feature read them (the tests turn it on through the
//! package's dev-dependency on itself); in every other build each check is
//! a constant `false` and no variable is read.
//!
//! - `GOAT_TEST_CORRUPT_PIECE=N` flips a byte of piece N on disk right
//!   after it was written and checked; the read-back must catch it.
//! - `GOAT_TEST_FAIL_WRITE_PIECE=N` makes the write of piece N fail: its
//!   first block written through (when gathering is off) and the write of
//!   the whole piece. Either way the piece must be fetched again.
//! - `GOAT_TEST_FATAL_WRITE_PIECE=N` fails the first block write of piece
//!   N and keeps nothing, so librqbit stops the torrent with an error, as
//!   a disk that failed for a moment would make it.

#[cfg(feature = "test-hooks")]
mod armed {
    use std::sync::Once;

    #[derive(Clone, Copy, Default)]
    pub struct Hooks {
        corrupt: Option<u32>,
        fail_write: Option<u32>,
        fatal_write: Option<u32>,
    }

    static CORRUPTED: Once = Once::new();
    static WRITE_FAILED: Once = Once::new();
    static BLOCK_WRITE_FAILED: Once = Once::new();
    static FATAL_WRITE_FAILED: Once = Once::new();

    /// Whether `once` is reached for the first time in this process.
    fn first_time(once: &'static Once) -> bool {
        let mut first = false;
        once.call_once(|| first = true);
        first
    }

    impl Hooks {
        pub fn from_env() -> Hooks {
            let get = |k: &str| std::env::var(k).ok()?.parse().ok();
            Hooks {
                corrupt: get("GOAT_TEST_CORRUPT_PIECE"),
                fail_write: get("GOAT_TEST_FAIL_WRITE_PIECE"),
                fatal_write: get("GOAT_TEST_FATAL_WRITE_PIECE"),
            }
        }

        /// The first block write of `piece` fails and keeps nothing.
        pub fn fatal_block_write(&self, piece: Option<u64>) -> anyhow::Result<()> {
            if piece.is_some() && self.fatal_write.map(u64::from) == piece && first_time(&FATAL_WRITE_FAILED) {
                anyhow::bail!("injected write error (GOAT_TEST_FATAL_WRITE_PIECE)");
            }
            Ok(())
        }

        /// A block write of `piece` fails (and may be kept in memory).
        pub fn fail_block_write(&self, piece: Option<u64>) -> anyhow::Result<()> {
            if piece.is_some() && self.fail_write.map(u64::from) == piece && first_time(&BLOCK_WRITE_FAILED) {
                anyhow::bail!("injected write error (GOAT_TEST_FAIL_WRITE_PIECE)");
            }
            Ok(())
        }

        /// The write of gathered piece `i` fails.
        pub fn fail_piece_write(&self, i: u32) -> anyhow::Result<()> {
            if self.fail_write == Some(i) && first_time(&WRITE_FAILED) {
                anyhow::bail!("injected write error (GOAT_TEST_FAIL_WRITE_PIECE)");
            }
            Ok(())
        }

        /// Piece `i` is corrupted on disk once written.
        pub fn corrupt(&self, i: u32) -> bool {
            self.corrupt == Some(i) && first_time(&CORRUPTED)
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
mod armed {
    /// No faults: every check is a constant.
    #[derive(Clone, Copy, Default)]
    pub struct Hooks;

    impl Hooks {
        pub fn from_env() -> Hooks {
            Hooks
        }
        #[inline(always)]
        pub fn fatal_block_write(&self, _: Option<u64>) -> anyhow::Result<()> {
            Ok(())
        }
        #[inline(always)]
        pub fn fail_block_write(&self, _: Option<u64>) -> anyhow::Result<()> {
            Ok(())
        }
        #[inline(always)]
        pub fn fail_piece_write(&self, _: u32) -> anyhow::Result<()> {
            Ok(())
        }
    }
}

pub(super) use armed::Hooks;
