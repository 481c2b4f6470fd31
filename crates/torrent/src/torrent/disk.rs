//! Room on the disk: refusing a download the disk cannot hold, allocating
//! files at their final size, noticing a full disk librqbit would stall on.

use super::*;

/// Before a download starts: refuse it when the disk cannot hold what is
/// still missing (exit 6, nothing downloaded), then allocate every file at
/// its full length, so a disk that fills later (another program, another
/// download) cannot stop this one half way. What is already on disk (a
/// resumed download) counts as present by its allocated blocks. Returns
/// the files that held nothing before (see `storage::Fresh`).
pub(super) fn preallocate(output: &Path, files: &[(PathBuf, u64)]) -> Result<Vec<PathBuf>> {
    use crate::safefs::{self, Access};
    // goat's own folder (made by `Layout::make_entry_dir`): opened with no
    // link followed anywhere in its path, so one swapped in since is
    // refused before a byte is allocated.
    let root = safefs::make_real_dir(output).map_err(|e| Error::io(format!("opening {}", output.display()), e))?;
    // Every path is checked (no link anywhere below the folder, nothing but
    // regular files) before a byte is allocated.
    let mut allocated = Vec::with_capacity(files.len());
    for (rel, len) in files {
        let found = safefs::found_in(&root, rel).map_err(|e| Error::io(format!("in {}", output.display()), e))?;
        allocated.push(match found {
            // A hard link at full length (a local copy) is never written,
            // however few blocks it holds (compressed, sparse).
            Some(f) if f.links > 1 && f.len == *len => *len,
            Some(f) => f.allocated,
            None => 0,
        });
    }
    let missing: u64 =
        files.iter().zip(&allocated).fold(0u64, |sum, ((_, len), have)| sum.saturating_add(len.saturating_sub(*have)));
    if let Some(free) = free_space(output) {
        if free < missing {
            return Err(Error::new(
                Kind::Io,
                format!(
                    "{} needs {} more bytes, but its disk has {} free: free some space (or pick another -o) and run again; nothing was downloaded",
                    output.display(),
                    missing,
                    free
                ),
            ));
        }
    }
    let mut created = Vec::new();
    for ((rel, len), &before) in files.iter().zip(&allocated) {
        let path = output.join(rel);
        if *len == 0 || before >= *len {
            continue;
        }
        if before == 0 {
            created.push(rel.clone());
        }
        let f = safefs::open_in(&root, rel, Access::Write)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        if i64::try_from(*len).is_err() {
            return Err(Error::invalid(format!("{}: {len} bytes is more than a file can hold", path.display())));
        }
        // The fallocate system call itself: glibc's posix_fallocate would
        // write a byte per block where the filesystem lacks it, which for a
        // model of many GiB is a second download's worth of writes.
        match rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, *len) {
            Ok(()) => {}
            // Filesystems without fallocate: librqbit writes sparse files there.
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL) => {}
            Err(rustix::io::Errno::NOSPC) => {
                return Err(Error::new(
                    Kind::Io,
                    format!("{}: the disk is full, free some space and run again to resume", path.display()),
                ))
            }
            Err(other) => return Err(Error::io(format!("allocating {}", path.display()), other.into())),
        }
    }
    Ok(created)
}

/// Less than 1 MiB left where `path` lives: librqbit stalls (or writes short)
/// there without saying so.
pub fn disk_full(path: &Path) -> bool {
    free_space(path).is_some_and(|free| free < (1 << 20))
}

/// Bytes available to this user on the filesystem holding `path` (or its
/// nearest existing parent).
pub fn free_space(path: &Path) -> Option<u64> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let st = rustix::fs::statvfs(p).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}
