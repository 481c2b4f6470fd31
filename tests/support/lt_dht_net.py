#!/usr/bin/python3
"""A closed DHT network of N python3-libtorrent nodes (no torrents) on
127.0.0.1, all in this one process (test support).

usage: lt_dht_net.py LIFETIME_SECS PORT1 PORT2 PORT3 [...] [--near INFOHASH]

Node i listens (UDP for the DHT; TCP too, unused) on 127.0.0.1:PORTi. Each
node knows the first, the first knows all the others. Prints one line
"ID <port> <node id hex>" per node, then "READY p1,p2,p3" once every node
has at least one node in its routing table (session.status().dht_nodes),
within a few seconds; then "NODES a b c" (the routing table sizes, in port
order) every 2 s. Stops by itself after LIFETIME_SECS; exits 1 (after
"TIMEOUT NODES a b c") if it was never ready.

Node ids are random (libtorrent's own), so in a network this small no node
is close to any given info-hash. --near INFOHASH gives the FIRST node the
id INFOHASH with its last byte flipped instead (set through load_state as in
benches/swarm/lt_dht.py).

Closed: dht_bootstrap_nodes is "" (libtorrent's default router,
dht.libtorrent.org, is never contacted) and the nodes meet through
session.add_dht_node. Not through dht_bootstrap_nodes: libtorrent never puts
a bootstrap router's endpoint into its routing table
(routing_table::add_node_impl), so with the first node as everyone's
router and the others as its routers, every routing table stays empty.
dht_restrict_routing_ips is off (by default libtorrent keeps one node per
IP in its routing table, and every node here is 127.0.0.1), as is
dht_restrict_search_ips (the same within one lookup); dht_block_ratelimit
is raised (by default a node ignores for 5 minutes an IP that sent it 50
DHT messages within 10 s: here every node, and goat, is 127.0.0.1). No
LSD, UPnP or NAT-PMP.
"""
import argparse, signal, socket, sys, time, warnings
import libtorrent as lt

ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].removeprefix("usage: "))
ap.add_argument("lifetime", type=float)
ap.add_argument("ports", type=int, nargs="+")
ap.add_argument("--near")
args = ap.parse_args()
if len(args.ports) < 2:
    sys.exit("lt_dht_net.py: at least two ports")
warnings.simplefilter("ignore", DeprecationWarning)  # session.status(), for dht_nodes
signal.alarm(int(args.lifetime) + 15)  # a hard bound, should a shutdown hang

sessions = []
for i, port in enumerate(args.ports):
    ses = lt.session({
        "listen_interfaces": f"127.0.0.1:{port}",
        # Off at the start, so the DHT starts only after the node id is set.
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # libtorrent ignores for 5 minutes an IP that sent it 50 DHT
        # messages within 10 s (dos_blocker; dht_block_ratelimit 5 a
        # second): every node here is 127.0.0.1, so a few lookups get a
        # node ignored.
        "dht_block_ratelimit": 1_000_000,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    if i == 0 and args.near:
        nid = bytearray(bytes.fromhex(args.near))
        nid[-1] ^= 0x01
        # libtorrent's saved DHT state: the 20-byte id, then the IPv4
        # address of the listen socket it is for.
        ses.load_state({b"dht state": {b"node-id": [bytes(nid) + socket.inet_aton("127.0.0.1")]}})
    for other in (args.ports[1:] if i == 0 else args.ports[:1]):
        ses.add_dht_node(("127.0.0.1", other))
    sessions.append(ses)
for ses in sessions:
    ses.apply_settings({"enable_dht": True})
for port, ses in zip(args.ports, sessions):
    ids = ses.save_state(lt.save_state_flags_t.save_dht_state).get(b"dht state", {}).get(b"node-id", [])
    print(f"ID {port} {ids[0][:20].hex() if ids else '?'}", flush=True)

deadline = time.time() + args.lifetime
ready = False
last = 0.0
while time.time() < deadline:
    for ses in sessions:
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_failed_alert):
                print(f"ERROR {a.message()}", flush=True)
    counts = [ses.status().dht_nodes for ses in sessions]
    if not ready and all(counts):
        ready = True
        print("READY " + ",".join(map(str, args.ports)), flush=True)
    if time.time() - last >= 2:
        if ready:
            print("NODES " + " ".join(map(str, counts)), flush=True)
        # add_dht_node pings once and is never retried (there is no
        # bootstrap router): a node still alone asks again.
        for i, (ses, count) in enumerate(zip(sessions, counts)):
            if count == 0:
                for other in (args.ports[1:] if i == 0 else args.ports[:1]):
                    ses.add_dht_node(("127.0.0.1", other))
        last = time.time()
    time.sleep(0.1)
if not ready:
    print("TIMEOUT NODES " + " ".join(str(ses.status().dht_nodes) for ses in sessions), flush=True)
    sys.exit(1)
