#!/usr/bin/python3
"""Make N torrents the way qBittorrent and libtorrent 2.0 make them (hybrid
v1+v2, padding files between files) and seed them all from one
python3-libtorrent session on 127.0.0.1 (test support).

usage: lt_many.py WORK_DIR N PORT LIFETIME_SECS
Writes WORK_DIR/src/tNN/{weights.bin,config.json}; prints one line per
torrent, "TORRENT <name> <v1 info-hash> <magnet from make_magnet_uri>",
then "SEEDING <port>" once every torrent is seeding. Stops by itself
after LIFETIME_SECS. Loopback only: no DHT, LSD, UPnP.
"""
import os, sys, time
import libtorrent as lt

work, n, port, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
src = os.path.join(work, "src")
ses = lt.session({
    "listen_interfaces": f"127.0.0.1:{port}",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "active_downloads": -1, "active_seeds": -1, "active_limit": -1, "active_checking": 8,
    "user_agent": "goat-test-libtorrent",
})
handles = []
for i in range(n):
    name = f"t{i:02d}"
    d = os.path.join(src, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "weights.bin"), "wb") as f:
        f.write(os.urandom(100_000 + 1_000 * i))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"n": %d}\n' % i)
    fs = lt.file_storage()
    lt.add_files(fs, d)
    ct = lt.create_torrent(fs, 16384)  # libtorrent 2.0's default: hybrid v1+v2
    lt.set_piece_hashes(ct, src)
    ti = lt.torrent_info(lt.bencode(ct.generate()))
    assert ti.info_hashes().has_v1() and ti.info_hashes().has_v2()
    handles.append(ses.add_torrent({"ti": ti, "save_path": src}))
    print(f"TORRENT {name} {ti.info_hashes().v1} {lt.make_magnet_uri(ti)}", flush=True)
t0 = time.time()
while not all(h.status().is_seeding for h in handles) and time.time() - t0 < 60:
    time.sleep(0.1)
time.sleep(0.5)
print(f"SEEDING {port}", flush=True)
deadline = time.time() + lifetime
while time.time() < deadline:
    time.sleep(0.5)
