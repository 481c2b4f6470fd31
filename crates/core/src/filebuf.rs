//! Buffers to read file data into, placed where the kernel copies fast.
//!
//! Why this exists: on the benchmark machine (AMD EPYC, Linux 6.18) a
//! `read()` out of the page cache runs at a quarter of its usual speed
//! when the destination sits 8 to 31 bytes past the source's position in
//! its 4 KiB page (1.5-2 GB/s against 6-7, measured with `preadv` from a
//! warm file into an `mmap`ed buffer at every offset; the loads of the
//! kernel's `rep movsb` alias its own earlier stores). glibc hands out large
//! buffers 16 bytes past a page boundary, and pieces mostly start at
//! page-aligned file offsets: exactly that case. It made `goat verify` of a
//! bench folder run at 1.65 GB/s while a folder whose one big file started
//! 59 bytes into the torrent ran at 2.5. So goat places each read: the
//! buffer's address is chosen from the file offset, half a page away.

use std::ops::{Deref, DerefMut};

const PAGE: usize = 4096;

/// How much file data goat reads before hashing it: small enough to stay
/// in a core's L2 cache, large enough that reads cost little, and whole
/// pages, so a buffer placed for a run stays placed for the next.
pub const RUN: usize = 256 << 10;

/// `len` bytes for reading a file from some offset. Reuse one with
/// [`FileBuf::place`] to read again without allocating.
#[derive(Default)]
pub struct FileBuf {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl FileBuf {
    /// A zeroed buffer of `len` bytes for reading the file at offset `pos`.
    pub fn new(pos: u64, len: usize) -> Self {
        let mut b = Self::default();
        b.place(pos, len);
        b
    }

    /// Make this `len` bytes for reading at file offset `pos` (the bytes
    /// already in it are unspecified).
    pub fn place(&mut self, pos: u64, len: usize) {
        if self.buf.len() < len + PAGE {
            self.buf.resize(len + PAGE, 0);
        }
        let base = self.buf.as_ptr() as usize % PAGE;
        let want = (pos as usize % PAGE + PAGE / 2) % PAGE;
        self.at = (want + PAGE - base) % PAGE;
        self.len = len;
    }

    /// Hand `take` the `n` bytes at file offset `at` in runs of [`RUN`]
    /// bytes, each read into this buffer (placed once: runs are whole pages)
    /// by `read(offset, into)`, or zeros for `padding`, read from nowhere.
    /// Stops at the first failed read. goat's two piece hashers, `verify`
    /// and the read-back proof, both read this way.
    pub fn runs<E>(
        &mut self,
        at: u64,
        n: usize,
        padding: bool,
        mut read: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
        mut take: impl FnMut(&[u8]),
    ) -> Result<(), E> {
        self.place(at, RUN);
        if padding {
            self.fill(0);
        }
        let mut done = 0;
        while done < n {
            let run = &mut self[..(n - done).min(RUN)];
            if !padding {
                read(at + done as u64, run)?;
            }
            take(run);
            done += run.len();
        }
        Ok(())
    }
}

/// Read `dst.len()` bytes at file offset `pos` with `read`, bounced
/// through a placed buffer of this thread when `dst` itself sits where the
/// kernel copies slowly. For buffers goat does not place: librqbit's piece
/// check reads 64 KiB at a time into a buffer of its own, and where that
/// lands is up to the heap.
pub fn read_into<E>(pos: u64, dst: &mut [u8], read: impl FnOnce(u64, &mut [u8]) -> Result<(), E>) -> Result<(), E> {
    thread_local! {
        static BOUNCE: std::cell::RefCell<FileBuf> = std::cell::RefCell::default();
    }
    if dst.len() < PAGE || !slow(dst.as_ptr(), pos) {
        return read(pos, dst);
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(
        || tracing::debug!(target: "goat", "a read of {} bytes at {pos} lands in a slow place; bounced", dst.len()),
    );
    BOUNCE.with_borrow_mut(|b| {
        b.place(pos, dst.len());
        read(pos, b)?;
        dst.copy_from_slice(b);
        Ok(())
    })
}

/// Whether reading file offset `pos` into `dst` is the slow case of the
/// module comment, with a margin each side.
fn slow(dst: *const u8, pos: u64) -> bool {
    let past = (dst as usize % PAGE + PAGE - pos as usize % PAGE) % PAGE;
    (4..64).contains(&past)
}

impl Deref for FileBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.at..self.at + self.len]
    }
}

impl DerefMut for FileBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_sits_half_a_page_from_its_file_offset() {
        let mut b = FileBuf::default();
        for (pos, len) in [(0u64, 100usize), (59, 4096), (4096 * 7 + 13, 1 << 20), (1 << 40, 3)] {
            b.place(pos, len);
            assert_eq!(b.len(), len);
            let addr = b.as_ptr() as usize;
            assert_eq!((addr + PAGE - pos as usize % PAGE) % PAGE, PAGE / 2, "pos {pos}");
            assert!(!slow(b.as_ptr(), pos));
        }
    }

    #[test]
    fn a_read_into_a_slow_place_is_bounced_and_lands_whole() {
        let mut copy = vec![0u8; 3 * PAGE];
        let base = copy.as_ptr() as usize;
        // 16 bytes past a page, for a page-aligned file offset: the slow case.
        let skip = (PAGE - base % PAGE) % PAGE + 16;
        let dst = &mut copy[skip..skip + PAGE];
        assert!(slow(dst.as_ptr(), 8 * PAGE as u64));
        let mut seen = 0;
        read_into(8 * PAGE as u64, dst, |pos, into| {
            seen = into.as_ptr() as usize;
            assert_eq!(pos, 8 * PAGE as u64);
            into.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_ne!(seen, dst.as_ptr() as usize, "read straight into the slow place");
        assert!(dst.iter().enumerate().all(|(i, b)| *b == i as u8));
        // A well-placed buffer is read into directly.
        let dst = &mut copy[skip + 2048..skip + 2048 + PAGE];
        read_into(8 * PAGE as u64, dst, |_, into| {
            seen = into.as_ptr() as usize;
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(seen, dst.as_ptr() as usize);
    }
}
