//! The system calls no kept crate wraps, each with its SAFETY comment.
//! Everything else goes through std, rustix, memmap2 or tempfile; this is
//! the only place in goat with `unsafe`.

pub mod mapped;

use std::os::fd::{AsFd, AsRawFd};

/// Large buffers (a 4 MB transaction, its 8 MB of hex) straight from and
/// back to the OS: glibc otherwise raises its mmap threshold after the
/// first such free and keeps later ones in per-thread heaps, so a walk
/// over a few witness-heavy transactions would hold its peak for good
/// (measured: tests/cli/hostile.rs). Call before any thread starts.
pub fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called from main
    // before any other thread exists. (rustix has no allocator calls.)
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Start writing back `len` bytes of `file` at `at` without waiting for
/// them (a hint; errors cost nothing but the cache). rustix has no
/// `sync_file_range`.
pub fn start_writeback(file: impl AsFd, at: u64, len: u64) {
    let (Ok(at), Ok(len)) = (i64::try_from(at), i64::try_from(len)) else { return };
    // SAFETY: a plain system call on a descriptor the caller holds open,
    // with no memory passed.
    unsafe {
        libc::sync_file_range(file.as_fd().as_raw_fd(), at, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// How many of the pages of `file` in `at..at + len` are in the page
/// cache (tests measure goat's cache hints with it). rustix has no
/// `mincore`.
pub fn resident_pages(file: &std::fs::File, at: u64, len: usize) -> std::io::Result<usize> {
    let page = rustix::param::page_size();
    // SAFETY: a read-only shared mapping of a file the caller holds open,
    // never read through (mincore only asks the kernel about it); unmapped
    // when `map` drops.
    let map = unsafe { memmap2::MmapOptions::new().offset(at).len(len).map(file)? };
    let lead = map.as_ptr() as usize % page;
    let mut vec = vec![0u8; (lead + len).div_ceil(page)];
    // SAFETY: `map` is a live mapping starting `lead` bytes past a page
    // boundary and `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(map.as_ptr().sub(lead) as *mut libc::c_void, lead + len, vec.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(vec.iter().filter(|v| **v & 1 == 1).count())
}
