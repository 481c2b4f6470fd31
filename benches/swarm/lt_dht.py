#!/usr/bin/python3
"""A DHT-only node (python3-libtorrent, no torrents) for the swarm test
bed's DHT run: the bootstrap node inside the test network.

usage: lt_dht.py LISTEN_IP PORT LIFETIME_SECS

Why not bootstrap from the origin: librqbit's DHT answers queries without
adding the querying node to its routing table (`librqbit-dht` 9.1,
`on_received_message` only marks nodes it already knows), so a librqbit
seeder that is the only bootstrap node never learns the nodes that ask it,
never announces itself to them, and a fresh swarm never finds it.
libtorrent's DHT adds nodes that query it, as BEP 5 suggests.
"""
import sys, time
import libtorrent as lt

ip, port, lifetime = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ses = lt.session({
    "listen_interfaces": f"{ip}:{port}",
    "enable_dht": True,
    "dht_bootstrap_nodes": "",
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
})
print("READY", flush=True)
deadline = time.time() + lifetime
while time.time() < deadline:
    time.sleep(5)
    print(f"dht nodes {ses.status().dht_nodes}", flush=True)
