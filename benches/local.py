#!/usr/bin/python3
"""Local copies (docs/fetching.md, "Local copies"), measured: a model that
is already in the Hugging Face cache, fetched by goat (the files are put in
place, hashed and checked), against goat downloading it over loopback from
one libtorrent seeder, and libtorrent doing each (downloading it, and
checking the same files already in its folder, which is what a torrent
client does with a copy it is given). Run through benches/local.sh. Each
case starts with the payload's pages dropped from the page cache (only
those files: posix_fadvise DONTNEED, nothing machine-wide), so "read MB"
is what the case read from the disk (the device's own count, so
libtorrent's memory-mapped reads count too; other work on the machine
would add to it). Figures are printed, never asserted.

usage: local.py [--size 8G] [--runs 2]
"""
import argparse, hashlib, os, shutil, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import (PY, LT_LEECH, Procs, free_port, human, leech_commands, make_payload, parse_size,  # noqa: E402
                   start_devchain, start_seeders, timed, tracked_torrent, complete)

REPO = "bench/model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def room(need):
    """The shared machine's guard when there is one, else the same rule:
    `need` bytes plus a 20 GB margin free."""
    guard = bench.ROOT.parent / "shared" / "bin" / "room"
    gb = -(-need // 10**9)
    if guard.exists():
        if subprocess.run([str(guard), str(gb)]).returncode != 0:
            sys.exit(f"local.py: not enough free disk for {gb} GB (../shared/bin/room)")
        return
    st = os.statvfs(tempfile.gettempdir())
    if st.f_bavail * st.f_frsize < need + 20 * 10**9:
        sys.exit(f"local.py: needs {gb} GB free plus a 20 GB margin in {tempfile.gettempdir()}")


def drop_pages(*dirs):
    for d in dirs:
        for p in Path(d).rglob("*"):
            if p.is_file() and not p.is_symlink():
                with open(p, "rb") as f:
                    # Dirty pages stay: written back first.
                    os.fdatasync(f.fileno())
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def disk_read_bytes(path):
    """Bytes the device holding `path` has read so far (/sys/dev/block's
    stat, sectors of 512 bytes): counts every reader, libtorrent's mapped
    files too, which a process's own I/O counters miss."""
    st = os.stat(path)
    dev = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/stat")
    return int(dev.read_text().split()[2]) * 512 if dev.exists() else 0


def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 22):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="8G")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    size = parse_size(a.size)
    # The seeder's payload, the cache's own copy (the seeder maps its
    # files, which would keep them in the page cache for a case sharing
    # them), and at most one client's copy at a time.
    room(3 * size)
    work = Path(tempfile.mkdtemp(prefix="goat-local-bench-"))
    work.chmod(0o755)  # opentracker reads its whitelist as another user
    procs = Procs()
    try:
        payload = work / "src" / "payload"
        files = make_payload(payload, size)
        torrent, ih, goatfile, _ = tracked_torrent(procs, work, payload, "payload")
        # The goatfile lists every file's size and sha256, as goat publish
        # writes them.
        listed = "".join(f"      - path: {n}\n        size: {s}\n        sha256: {sha256(payload / n)}\n" for n, s in files)
        goatfile.write_text(goatfile.read_text() + f"    hf:\n      repo: {REPO}\n      revision: {COMMIT}\n    files:\n{listed}")
        # The hub cache: its own copy of the files.
        cache = work / "hf"
        repo = cache / f"models--{REPO.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(COMMIT)
        (repo / "blobs").mkdir()
        snap = repo / "snapshots" / COMMIT
        snap.mkdir(parents=True)
        sha256s = {n: sha256(payload / n) for n, _ in files}
        for n, _ in files:
            h = sha256s[n]
            shutil.copyfile(payload / n, repo / "blobs" / h)
            (snap / n).symlink_to(f"../../blobs/{h}")
        start_seeders(procs, work, torrent, payload.parent, 1)
        _, esplora, address = start_devchain(procs, work, goatfile)

        def goat(extra, env=()):
            return lambda d: ["env", f"HF_HUB_CACHE={cache}", *env] + leech_commands("goat", torrent, d, esplora, address) + extra

        def lt_with_copy(d):
            # libtorrent handed the cache's files (hard links, as goat's
            # reuse makes them): it checks every piece, then seeds.
            (d / "payload").mkdir(parents=True)
            for n, _ in files:
                os.link(repo / "blobs" / sha256s[n], d / "payload" / n)
            return [PY, str(LT_LEECH), str(torrent), str(d), str(free_port())]

        clients = {
            "goat, in the HF cache": goat([]),
            "goat, downloaded (--no-local)": goat(["--no-local"]),
            "libtorrent, given the files": lt_with_copy,
            "libtorrent, downloaded": lambda d: leech_commands("libtorrent", torrent, d, esplora, address),
        }
        print(f"\n== {human(size)} ({len(files)} files): found locally vs downloaded from one libtorrent seeder, "
              f"{a.runs} run(s), payload pages dropped before each ==", flush=True)
        got = {c: [] for c in clients}
        for r in range(a.runs):
            for name, make in clients.items():
                dest = work / "leech" / name.replace(" ", "_").replace(",", "")
                shutil.rmtree(work / "leech", ignore_errors=True)
                dest.mkdir(parents=True)
                cmd = make(dest)
                drop_pages(payload, cache)
                before = disk_read_bytes(work)
                dt, mb, rc, err = timed(cmd, timeout=3600)
                read_mb, cpu = (disk_read_bytes(work) - before) / 1e6, bench.LAST_CPU_S[0]
                ok = rc == 0 and complete(dest, payload, files)
                print(f"  {name:34} run {r + 1}: " + (f"{dt:6.1f} s {size / dt / 1e6:8.1f} MB/s read {read_mb:8.0f} MB "
                      f"CPU {cpu:6.1f} s peak RSS {mb:6.1f} MB" if ok else f"FAILED rc {rc}: {err.strip()[-300:]}"),
                      flush=True)
                if ok:
                    got[name].append((dt, read_mb, cpu, mb))
        shutil.rmtree(work / "leech", ignore_errors=True)
        print(f"\n| {human(size)}, {len(files)} files | seconds (median) | MB/s | read from disk, MB | CPU s | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for name, rows in got.items():
            if not rows:
                print(f"| {name} | failed | | | | |")
                continue
            rows.sort()
            dt, read_mb, cpu, mb = rows[len(rows) // 2]
            print(f"| {name} | {dt:.1f} | {size / dt / 1e6:.0f} | {read_mb:.0f} | {cpu:.1f} | {max(r[3] for r in rows):.0f} |")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
