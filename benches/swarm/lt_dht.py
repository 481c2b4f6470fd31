#!/usr/bin/python3
"""A DHT-only node (python3-libtorrent, no torrents) for the swarm test
bed's DHT run: the bootstrap node inside the test network.

usage: lt_dht.py LISTEN_IP PORT LIFETIME_SECS [INFO_HASH]

Why not bootstrap from the origin: librqbit's DHT answers queries without
adding the querying node to its routing table (`librqbit-dht` 9.1,
`on_received_message` only marks nodes it already knows), so a librqbit
seeder that is the only bootstrap node never learns the nodes that ask it.
libtorrent's DHT adds nodes that query it, as BEP 5 suggests.

Why INFO_HASH: librqbit announces a torrent only to DHT nodes whose id
shares at least the first 16 bits with the info-hash
(`RecursiveRequestCallbacksGetPeers::min_distance_to_announce`,
0000ffff…), and stores announces only for info-hashes within 20 bits of
its own id (`PeerStore::max_distance`). On the real DHT (millions of
nodes) a few hundred nodes lie that close to any info-hash; in a test
network of 14 nodes with random ids, none does, so no librqbit node would
ever announce and a DHT-only swarm could never meet. Given INFO_HASH,
this node takes an id next to it (the last byte flipped), standing in for
the DHT nodes that are close to the info-hash in the real network.
"""
import socket, sys, time
import libtorrent as lt

ip, port, lifetime = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
near = sys.argv[4] if len(sys.argv) > 4 else None


def node(port, bootstrap="", node_id=None):
    ses = lt.session({
        "listen_interfaces": f"{ip}:{port}",
        "enable_dht": False,
        "dht_bootstrap_nodes": bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
    })
    if node_id:
        # libtorrent's saved DHT state: node-id is the 20-byte id then the
        # IPv4 address it was made for.
        ses.load_state({b"dht state": {b"node-id": [node_id + socket.inet_aton(ip)]}})
    ses.apply_settings({"enable_dht": True})
    return ses


nid = None
if near:
    nid = bytearray(bytes.fromhex(near))
    nid[-1] ^= 0x01
ses = node(port, node_id=bytes(nid) if nid else None)
print("READY", flush=True)
deadline = time.time() + lifetime
while time.time() < deadline:
    time.sleep(5)
    print(f"dht nodes {ses.status().dht_nodes}", flush=True)
