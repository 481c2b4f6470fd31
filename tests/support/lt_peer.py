#!/usr/bin/python3
"""One python3-libtorrent peer on 127.0.0.1 that seeds or leeches one
torrent (test support).

usage: lt_peer.py --save DIR --port P --lifetime SECS
                  (--torrent FILE | --magnet URI) [--utp-only | --tcp-only]
                  [--dht] [--dht-bootstrap HOST:PORT[,HOST:PORT...]]
                  [--peer HOST:PORT ...] [--node-id-near INFOHASH]
                  [--exit-when-done] [--bind IP] [--upload-rate BPS]

Seeds when DIR holds the data, else downloads it (then seeds). Prints:
  READY <port>        listening (TCP and UDP on the same port; PORT 0 picks
                      one), and a --torrent past its check
  DHT_ID <hex>        with --dht, right after READY: its DHT node id
  SEEDING             it has every piece
  DONE <seconds>      a download completed (seconds since the torrent was added)
  PEER <ip:port> <utp|tcp>  each peer connection past the handshake, once
                      (polled every 50 ms; a shorter one only when it moved
                      a block or was dropped as seed-to-seed/finished)
  BLOCKED <ip:port> <reason>  a connection libtorrent refused (tcp_disabled...)
  GONE <ip:port> <why>  a connection printed as PEER ended, and why
  HAS <ip:port> <n>   how many pieces a connected peer says it has, each time
                      that changes (a super-seeding peer tells of one at a time)
  ERROR <message>     a torrent, file or listen error
  STAT downloaded=<payload bytes received> peers=<n> dht_nodes=<n>
       uploaded=<payload bytes sent> have=<bytes of checked pieces>, every 2 s
  TIMEOUT progress=<0..1>  LIFETIME_SECS ran out before a download completed
Stops by itself after LIFETIME_SECS (exit 0; 1 after TIMEOUT), or right
after DONE with --exit-when-done.

--utp-only: enable_{outgoing,incoming}_tcp off, uTP on. libtorrent 2.0.8
still listens on the TCP port: it accepts a TCP connection and closes it
at once, before reading anything (session_impl::incoming_connection, a
peer_blocked_alert "tcp_disabled", printed as BLOCKED); the connecting side
reads EOF (or ECONNRESET when its handshake arrived first), never a
handshake. --tcp-only: enable_{outgoing,incoming}_utp off.

--dht: DHT on, closed: dht_bootstrap_nodes is always "" (libtorrent's
default router, dht.libtorrent.org, is never contacted); the nodes of
--dht-bootstrap (which implies --dht) are added as ordinary nodes
(session.add_dht_node, again every 2 s while the routing table is empty:
a node not up yet is otherwise never retried), which enter the routing
table; a bootstrap router never does (routing_table::add_node_impl; see
lt_dht_net.py). Set for
several nodes on one IP: dht_restrict_routing_ips and
dht_restrict_search_ips off (by default one node per IP), and
dht_block_ratelimit raised (by default a node ignores for 5 minutes an IP
that sent it 50 DHT messages within 10 s, and every node here is
127.0.0.1). dht_announce_interval is 5 s: a torrent's DHT announce, which
is also its get_peers lookup, runs at the start and then every
dht_announce_interval (default 900 s), so a peer that appears later is
found within about 5 s.
--node-id-near INFOHASH: the DHT node id is INFOHASH with its last byte
flipped (default: random). A --magnet with no tracker plus --dht is a
leecher that finds peers only through the DHT.

--upload-rate BPS: the torrent's upload limit (a session limit would not
apply to loopback peers).

--bind IP: listen on IP instead of 127.0.0.1 (a test's own network
namespace); peers in IP's /24 are then allowed too.

--peer: connect_peer to each (again every second while not connected and
not seeding; every 5 s while seeding). Loopback only: trackers, web seeds
and DHT nodes of the torrent or magnet that are not 127.0.0.1/localhost
are dropped, an IP filter blocks every peer outside 127.0.0.0/8, no LSD,
UPnP or NAT-PMP.
"""
import argparse, signal, socket, sys, time, warnings
import libtorrent as lt
from urllib.parse import urlsplit

ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].removeprefix("usage: "))
ap.add_argument("--save", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--lifetime", type=float, required=True)
src = ap.add_mutually_exclusive_group(required=True)
src.add_argument("--torrent")
src.add_argument("--magnet")
transport = ap.add_mutually_exclusive_group()
transport.add_argument("--utp-only", action="store_true")
transport.add_argument("--tcp-only", action="store_true")
ap.add_argument("--dht", action="store_true")
ap.add_argument("--dht-bootstrap", action="append", default=[])
ap.add_argument("--peer", nargs="+", action="append", default=[])
ap.add_argument("--node-id-near")
ap.add_argument("--exit-when-done", action="store_true")
ap.add_argument("--bind", default="127.0.0.1")
ap.add_argument("--upload-rate", type=int, default=0)
args = ap.parse_args()
warnings.simplefilter("ignore", DeprecationWarning)  # session.status(), for dht_nodes
# A hard bound, should the session's shutdown hang.
signal.alarm(int(args.lifetime) + 15)


def endpoints(items):
    out = []
    for item in items:
        for hp in item.split(","):
            if hp:
                host, port = hp.rsplit(":", 1)
                out.append(("127.0.0.1" if host == "localhost" else host, int(port)))
    return out


def loopback(host):
    host = (host or "").strip("[]").lower()
    return host == "localhost" or host.startswith("127.")


def loopback_url(url):
    try:
        return loopback(urlsplit(url).hostname)
    except ValueError:
        return False


peers = endpoints(p for group in args.peer for p in group)
dht_nodes = endpoints(args.dht_bootstrap)
# --bind IP (a test's own network namespace): that /24 is allowed too.
bind_net = None if loopback(args.bind) else args.bind.rsplit(".", 1)[0] + "."
for host, _ in peers + dht_nodes:
    if not loopback(host) and not (bind_net and host.startswith(bind_net)):
        sys.exit(f"lt_peer.py: {host} is neither loopback nor in --bind's network")
dht = args.dht or bool(dht_nodes)

settings = {
    "listen_interfaces": f"{args.bind}:{args.port}",
    # Off at the start, so the DHT starts only after the node id is set.
    "enable_dht": False,
    "dht_bootstrap_nodes": "",
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_tcp": not args.utp_only,
    "enable_incoming_tcp": not args.utp_only,
    "enable_outgoing_utp": not args.tcp_only,
    "enable_incoming_utp": not args.tcp_only,
    "allow_multiple_connections_per_ip": True,
    "min_reconnect_time": 1,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_announce_interval": 5,
    # libtorrent ignores for 5 minutes an IP that sent it 50 DHT messages
    # within 10 s (dos_blocker; dht_block_ratelimit 5 a second): every
    # node here is 127.0.0.1, so a few lookups get a node ignored.
    "dht_block_ratelimit": 1_000_000,
    "user_agent": "goat-test-libtorrent",
    "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
    | lt.alert.category_t.ip_block_notification | lt.alert.category_t.connect_notification
    | lt.alert.category_t.block_progress_notification | lt.alert.category_t.upload_notification,
    "alert_queue_size": 100000,
}
ses = lt.session(settings)
flt = lt.ip_filter()
flt.add_rule("0.0.0.0", "255.255.255.255", 1)
flt.add_rule("127.0.0.0", "127.255.255.255", 0)
if bind_net:
    flt.add_rule(bind_net + "0", bind_net + "255", 0)
flt.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
ses.set_ip_filter(flt)
if dht:
    if args.node_id_near:
        nid = bytearray(bytes.fromhex(args.node_id_near))
        nid[-1] ^= 0x01
        # libtorrent's saved DHT state: the 20-byte id, then the IPv4
        # address of the listen socket it is for.
        ses.load_state({b"dht state": {b"node-id": [bytes(nid) + socket.inet_aton(args.bind)]}})
    for ep in dht_nodes:
        ses.add_dht_node(ep)
    ses.apply_settings({"enable_dht": True})

if args.torrent:
    meta = lt.bdecode(open(args.torrent, "rb").read())
    dropped = False
    if b"announce" in meta and not loopback_url(meta[b"announce"].decode("utf-8", "replace")):
        del meta[b"announce"]
        dropped = True
    if b"announce-list" in meta:
        tiers = [[u for u in tier if loopback_url(u.decode("utf-8", "replace"))] for tier in meta[b"announce-list"]]
        tiers = [t for t in tiers if t]
        dropped |= tiers != meta[b"announce-list"]
        meta[b"announce-list"] = tiers
    for key in (b"url-list", b"httpseeds"):
        if key in meta:
            urls = meta[key] if isinstance(meta[key], list) else [meta[key]]
            kept = [u for u in urls if loopback_url(u.decode("utf-8", "replace"))]
            dropped |= kept != urls
            meta[key] = kept
    if b"nodes" in meta:
        kept = [n for n in meta[b"nodes"] if loopback(n[0].decode("utf-8", "replace"))]
        dropped |= kept != meta[b"nodes"]
        meta[b"nodes"] = kept
    # Re-encoded only when something was dropped (the info dictionary, so
    # the info-hash, is untouched either way).
    params = {"ti": lt.torrent_info(lt.bencode(meta) if dropped else args.torrent), "save_path": args.save}
else:
    params = lt.parse_magnet_uri(args.magnet)
    params.trackers = [u for u in params.trackers if loopback_url(u)]
    params.url_seeds = [u for u in params.url_seeds if loopback_url(u)]
    params.dht_nodes = [n for n in params.dht_nodes if loopback(n[0])]
    params.peers = [p for p in params.peers if loopback(p[0])]
    params.save_path = args.save
started = time.time()
deadline = started + args.lifetime
h = ses.add_torrent(params)
if args.upload_rate:
    h.set_upload_limit(args.upload_rate)

# READY once listening and, for a .torrent, past the check (libtorrent drops
# incoming handshakes for a torrent still being checked).
checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
listening = False
while time.time() < deadline:
    for a in ses.pop_alerts():
        if isinstance(a, lt.listen_succeeded_alert):
            listening = True
        elif isinstance(a, lt.listen_failed_alert):
            print(f"ERROR listen {a.message()}", flush=True)
            sys.exit(1)
    if listening and ses.is_listening() and not (args.torrent and h.status().state in checking):
        break
    time.sleep(0.05)
else:
    print("ERROR not ready within the lifetime", flush=True)
    sys.exit(1)
print(f"READY {ses.listen_port()}", flush=True)
if dht:
    ids = ses.save_state(lt.save_state_flags_t.save_dht_state).get(b"dht state", {}).get(b"node-id", [])
    print(f"DHT_ID {ids[0][:20].hex() if ids else '?'}", flush=True)

REASONS = {int(v): k for k, v in lt.reason_t.names.items()}
UTP = int(getattr(lt.peer_info, "utp_socket", 1 << 17))  # not exposed by the 2.0.8 bindings
# libtorrent's errors upload_upload_connection, uninteresting_upload_peer and
# torrent_finished (error_code.hpp): only a peer past the handshake is
# dropped for these.
AFTER_HANDSHAKE = (37, 38, 98)


def peer_line(ip, utp):
    name = f"{ip[0]}:{ip[1]}"
    if name not in printed:
        printed.add(name)
        print(f"PEER {name} {'utp' if utp else 'tcp'}", flush=True)


# The endpoints whose current connection has been printed. Polling alone
# misses a short connection (4 MiB take well under 0.1 s on loopback, then
# two seeds drop each other), so a disconnection prints it too when the
# connection was past the handshake: it moved a block, or it was dropped
# for a reason given only then. (Not the alert of an incoming connection:
# it comes before the peer id, so it also fires for libtorrent connecting
# to itself, which it does when the DHT returns its own address.)
printed = set()
claims = {}
moved = set()
errors = set()
seeding = was_leeching = False
last_dial = last_stat = 0.0
code = 0
while True:
    now = time.time()
    if now >= deadline:
        break
    for a in ses.pop_alerts():
        if isinstance(a, (lt.block_finished_alert, lt.block_uploaded_alert)):
            moved.add(f"{a.ip[0]}:{a.ip[1]}")
        elif isinstance(a, lt.peer_disconnected_alert):
            name = f"{a.ip[0]}:{a.ip[1]}"
            if name in moved or (a.error.category().name() == "libtorrent" and a.error.value() in AFTER_HANDSHAKE):
                # (a uTP peer's socket_type reads "udp" here)
                peer_line(a.ip, str(a.socket_type) in ("utp", "udp", "utp_ssl"))
            if name in printed:
                print(f"GONE {name} {a.error.message()} ({a.op})", flush=True)
            printed.discard(name)
            moved.discard(name)
        elif isinstance(a, lt.peer_blocked_alert):
            reason = REASONS.get(int(a.reason), a.reason)
            print(f"BLOCKED {a.ip[0]}:{a.ip[1]} {reason}", flush=True)
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.metadata_failed_alert,
                            lt.listen_failed_alert)):
            msg = a.message()
            if msg not in errors:
                errors.add(msg)
                print(f"ERROR {msg}", flush=True)
    s = h.status()
    if s.errc.value() != 0 and s.errc.message() not in errors:
        errors.add(s.errc.message())
        print(f"ERROR {s.errc.message()}", flush=True)
    if not s.is_seeding and s.state not in checking:
        was_leeching = True
    if s.is_seeding and not seeding:
        seeding = True
        if was_leeching:
            print(f"DONE {now - started:.1f}", flush=True)
        print("SEEDING", flush=True)
        if args.exit_when_done and was_leeching:
            break
    for p in h.get_peer_info():
        if not p.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
            peer_line(p.ip, p.flags & UTP)
            name, n = f"{p.ip[0]}:{p.ip[1]}", sum(1 for b in p.pieces if b)
            if claims.get(name) != n:
                claims[name] = n
                print(f"HAS {name} {n}", flush=True)
    if peers and now - last_dial >= (5 if seeding else 1):
        for ep in peers:
            if f"{ep[0]}:{ep[1]}" not in printed:
                h.connect_peer(ep)
        last_dial = now
    if now - last_stat >= 2:
        dht_count = ses.status().dht_nodes
        print(f"STAT downloaded={s.total_payload_download} peers={s.num_peers} "
              f"dht_nodes={dht_count} uploaded={s.total_payload_upload} have={s.total_done}",
              flush=True)
        if dht and dht_count == 0:
            # add_dht_node pings once; a node that was not up yet is lost,
            # and with no bootstrap router libtorrent never retries.
            for ep in dht_nodes:
                ses.add_dht_node(ep)
        last_stat = now
    time.sleep(0.05)
if not seeding:
    print(f"TIMEOUT progress={h.status().progress:.3f}", flush=True)
    code = 1
ses.pause()
sys.exit(code)
