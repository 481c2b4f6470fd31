//! Hashing file data straight out of the page cache, through read-only
//! mappings.
//!
//! Why: a piece read with `pread` is copied from the page cache into a
//! buffer before it is hashed. With warm files that copy is the one cost
//! besides SHA-1 itself, and on 2 cores it held `goat verify` to 85 % of
//! the machine's SHA-1 limit. Hashing a mapping reads each byte once.
//! Measured on this machine, a warm 2 GiB file in 4 MiB pieces, two threads
//! (docs/benchmarks.md, "Issue 11, fifth pass"): `pread` in placed 256 KiB
//! runs 2.36-2.61 GB/s, mapped 2.92-2.96, with OpenSSL's SHA-1 at 1.49 GB/s
//! per core.
//!
//! The hazard of a mapping is a file that shrinks while it is mapped: the
//! kernel answers a load past the new end with SIGBUS, which would kill
//! goat. So each window is checked against the file's size before it is
//! mapped, and while it is read a SIGBUS handler covers it: a fault inside
//! the window of the faulting thread has a page of zeros mapped over it, the
//! read is reported failed (as a short `pread` would be), and any other
//! SIGBUS goes to the handler that was there before (Rust's stack-overflow
//! report, or the default action). Where a file cannot be mapped at all
//! (some FUSE and network filesystems), it is read with `pread`.
//!
//! Why by hand: memmap2 makes the mapping, but no kept crate recovers from
//! SIGBUS on a shrunk file, so the handler below stays goat's own.

use crate::filebuf::FileBuf;
use std::cell::Cell;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// How much of a file is mapped at a time: pieces of large torrents are
/// 4-16 MiB, so one window usually covers a piece's part of a file.
const WINDOW: usize = 16 << 20;

thread_local! {
    /// The address range this thread is reading through a mapping, if any.
    static GUARDED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Set by the handler when a page of the guarded range was gone.
    static FAULTED: Cell<bool> = const { Cell::new(false) };
}

/// Hand `take` the `n` bytes of `file` at offset `at`, in order, in one or
/// more slices. Read through a mapping where the file allows one, else
/// with `pread` into `scratch`. An error if the file ends early or shrinks
/// while it is read; `take` may then have seen part of the data.
pub fn each_run(file: &File, at: u64, n: usize, scratch: &mut FileBuf, mut take: impl FnMut(&[u8])) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let short = || io::Error::new(io::ErrorKind::UnexpectedEof, "the file is shorter than its torrent says");
    if file.metadata()?.len() < at + n as u64 {
        return Err(short());
    }
    install();
    let mut done = 0;
    while done < n {
        let pos = at + done as u64;
        let len = (n - done).min(WINDOW);
        // SAFETY: a read-only shared mapping of a file goat only reads; its
        // range is inside the file (checked above) and a later shrink is
        // caught by the guard below. It is unmapped when `map` drops.
        let map = match unsafe { memmap2::MmapOptions::new().offset(pos).len(len).map(file) } {
            Ok(map) => map,
            // Not mappable here: the rest with pread.
            Err(_) => return scratch.runs(pos, n - done, false, |p, into| file.read_exact_at(into, p), take),
        };
        let base = map.as_ptr() as usize;
        GUARDED.set((base, base + len));
        FAULTED.set(false);
        take(&map);
        GUARDED.set((0, 0));
        drop(map);
        if FAULTED.get() {
            return Err(short());
        }
        done += len;
    }
    Ok(())
}

/// The SIGBUS action before goat's, to hand faults that are not goat's to
/// (set once, before goat's handler is installed; reading it is an atomic
/// load, safe in a handler).
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();

/// Install the handler (once).
fn install() {
    INSTALL.call_once(|| {
        PAGE.store(rustix::param::page_size(), Ordering::Relaxed);
        // SAFETY: sigaction with null new action only reads the current
        // one into a zeroed, properly sized struct; then goat's handler
        // (an extern "C" fn of the SA_SIGINFO shape) is installed with an
        // empty mask. `PREVIOUS` is set before the handler can run.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
                return;
            }
            let _ = PREVIOUS.set(previous);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction =
                on_sigbus as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// Only async-signal-safe work: thread-local cells with constant
/// initialisers (no lazy set-up) and the mmap/sigaction system calls.
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (lo, hi) = GUARDED.get();
    if (lo..hi).contains(&addr) {
        let page = PAGE.load(Ordering::Relaxed);
        // SAFETY: the page lies inside this thread's own mapping, which it
        // unmaps as a whole when the read ends.
        let zeros = unsafe {
            libc::mmap(
                (addr & !(page - 1)) as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            FAULTED.set(true);
            return;
        }
    }
    // Not goat's fault: put the previous action back and return, so the
    // access faults again and that action runs.
    let default = || {
        // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
        unsafe { std::mem::zeroed::<libc::sigaction>() }
    };
    let previous = PREVIOUS.get().copied().unwrap_or_else(default);
    // SAFETY: a complete sigaction read by `install` (or the default).
    unsafe { libc::sigaction(libc::SIGBUS, &previous, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        std::fs::File::create(&path).unwrap().write_all(&data).unwrap();
        (dir, path, data)
    }

    #[test]
    fn mapped_runs_hand_over_exactly_the_range() {
        let (_d, path, data) = file_of(WINDOW + 3 * 4096 + 77);
        let file = File::open(&path).unwrap();
        let mut scratch = FileBuf::default();
        for (at, n) in [(0usize, data.len()), (13, 5000), (4096 * 3 + 1, WINDOW + 50), (data.len() - 1, 1), (5, 0)] {
            let mut got = Vec::new();
            each_run(&file, at as u64, n, &mut scratch, |run| got.extend_from_slice(run)).unwrap();
            assert_eq!(got, &data[at..at + n], "at {at} n {n}");
        }
        let err = each_run(&file, data.len() as u64 - 10, 11, &mut scratch, |_| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_file_that_shrinks_while_mapped_is_a_failed_read_not_a_crash() {
        let (_d, path, data) = file_of(8 * 4096);
        let file = File::open(&path).unwrap();
        let mut scratch = FileBuf::default();
        let mut seen = 0;
        let mut first = true;
        let result = each_run(&file, 0, data.len(), &mut scratch, |run| {
            if first {
                first = false;
                // Another process cuts the file while goat reads it.
                std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
            }
            // Touch every byte, as SHA-1 would.
            seen += run.iter().map(|b| *b as usize).sum::<usize>().min(1);
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(seen, 1);
        // The guard is off again: an ordinary read still works.
        let mut got = Vec::new();
        each_run(&file, 0, 4096, &mut scratch, |run| got.extend_from_slice(run)).unwrap();
        assert_eq!(got, &data[..4096]);
    }
}
