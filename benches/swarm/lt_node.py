#!/usr/bin/python3
"""A python3-libtorrent node for the swarm test bed (benches/swarm/).

usage: lt_node.py TORRENT SAVE_PATH LISTEN_IP PORT LIFETIME_SECS [--dht-bootstrap HOST:PORT]

Seeds when SAVE_PATH holds the data, else downloads and keeps seeding.
Prints one JSON status line a second: state, progress, bytes up and down,
and peers_hold_all (whether every piece exists at some connected peer, so
an origin can tell when the swarm no longer needs it). Prints
COMPLETE once when it has everything. Stops by itself after LIFETIME_SECS.
"""
import json, sys, time
import libtorrent as lt

torrent, save, ip, port, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
boot = sys.argv[sys.argv.index("--dht-bootstrap") + 1] if "--dht-bootstrap" in sys.argv else ""
settings = {
    "listen_interfaces": f"{ip}:{port}",
    "enable_dht": bool(boot),
    "dht_bootstrap_nodes": boot,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "announce_to_all_trackers": True,
    "user_agent": "goat-swarm-libtorrent",
}
ses = lt.session(settings)
h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
deadline = time.time() + lifetime
complete = False
while time.time() < deadline:
    s = h.status()
    if s.is_seeding and not complete:
        complete = True
        h.force_reannounce()
        print("COMPLETE", flush=True)
    # Does every piece exist at some peer? (distributed_copies is not
    # computed for a seed, so the peers' bitfields are or'ed here.)
    held = [False] * s.num_pieces
    for p in h.get_peer_info():
        for i, b in enumerate(p.pieces):
            if b and i < len(held):
                held[i] = True
    print(json.dumps({
        "state": str(s.state), "progress": s.progress, "up": s.all_time_upload, "down": s.all_time_download,
        "peers_hold_all": bool(held) and all(held), "peers": s.num_peers,
    }), flush=True)
    time.sleep(1)
