#!/usr/bin/python3
"""A python3-libtorrent node for the swarm test bed (benches/swarm/).

usage: lt_node.py TORRENT SAVE_PATH LISTEN_IP PORT LIFETIME_SECS [--dht-bootstrap HOST:PORT]

Seeds when SAVE_PATH holds the data, else downloads and keeps seeding.
Prints one JSON status line a second: state, progress, bytes up and down,
and distributed_copies (how many full copies the peers it sees hold, so an
origin can tell when every piece exists somewhere in the swarm). Prints
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
    print(json.dumps({
        "state": str(s.state), "progress": s.progress, "up": s.all_time_upload, "down": s.all_time_download,
        "distributed_copies": s.distributed_copies, "peers": s.num_peers,
    }), flush=True)
    time.sleep(1)
