#!/usr/bin/python3
"""Time until one peer serves a first whole piece (benchmark probe).

usage: lt_first_piece.py TORRENT SAVE_PATH PEER_PORT LIMIT_SECS
A python3-libtorrent session on 127.0.0.1 with no tracker, DHT or LSD
keeps dialing 127.0.0.1:PEER_PORT (the peer may still be starting) and
prints "FIRST <seconds>" once a piece has passed libtorrent's hash check,
then removes the torrent and its files and exits 0; exit 1 after
LIMIT_SECS. Files are sparse and only the first pieces are ever written.
"""
import sys, time
import libtorrent as lt

torrent, save_path, peer_port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t0 = time.monotonic()
ses = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled),
    "alert_mask": 0,
})
ti = lt.torrent_info(torrent)
h = ses.add_torrent({"ti": ti, "save_path": save_path, "flags": lt.torrent_flags.sequential_download})
last_dial = 0.0
while time.monotonic() - t0 < limit:
    s = h.status()
    if s.num_pieces > 0:
        print(f"FIRST {time.monotonic() - t0:.3f}", flush=True)
        ses.remove_torrent(h, lt.session.delete_files)
        time.sleep(0.5)
        sys.exit(0)
    if s.num_peers == 0 and time.monotonic() - last_dial > 0.1:
        h.connect_peer(("127.0.0.1", peer_port))
        last_dial = time.monotonic()
    time.sleep(0.02)
print("TIMEOUT", flush=True)
sys.exit(1)
