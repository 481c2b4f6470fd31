#!/usr/bin/python3
"""Download one .torrent with python3-libtorrent from ONE peer on 127.0.0.1,
checking every piece it receives (test support).

usage: lt_leech.py TORRENT SAVE_PATH PEER_PORT LIFETIME_SECS
libtorrent hashes each piece as it completes; every piece whose hash fails
prints "HASHFAIL <piece>" (the peer served bad data). Prints "DONE" once
every piece has passed, then exits 0; exits 1 when LIFETIME_SECS run out.
The torrent's trackers and web seeds are dropped and there is no DHT, LSD
or UPnP: the only source is 127.0.0.1:PEER_PORT, reconnected whenever it
drops the connection. Prints "PEER <client> <crypto>" for each peer it
talks to, crypto being rc4, obfuscated (MSE handshake, plaintext payload)
or plaintext. LT_ENC sets libtorrent's encryption as in lt_seed.py.
"""
import os, sys, time
import libtorrent as lt

torrent, save_path, peer, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ses = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "allow_multiple_connections_per_ip": True,
    # goat drops the connection of a peer that asks for a piece it refuses;
    # libtorrent would wait its default 60 s before connecting again.
    "min_reconnect_time": 1,
    "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
    | lt.alert.category_t.peer_notification,
    "user_agent": "goat-test-libtorrent-leech",
    **({
        "forced": {"out_enc_policy": int(lt.enc_policy.forced), "in_enc_policy": int(lt.enc_policy.forced),
                   "allowed_enc_level": int(lt.enc_level.rc4), "prefer_rc4": True},
        "disabled": {"out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled)},
    }[os.environ["LT_ENC"]] if os.environ.get("LT_ENC") else {}),
})
# The torrent's trackers would lead to other sources: dropped (the info
# dictionary, so the info-hash, is untouched).
meta = lt.bdecode(open(torrent, "rb").read())
for key in (b"announce", b"announce-list", b"url-list", b"httpseeds"):
    meta.pop(key, None)
info = lt.torrent_info(lt.bencode(meta))
assert not list(info.trackers()), "trackers left"
params = {"ti": info, "save_path": save_path}
h = ses.add_torrent(params)
started = time.time()
deadline = started + lifetime
last_connect = 0.0
failed = 0
peers_seen = set()
while time.time() < deadline:
    for a in ses.pop_alerts():
        if isinstance(a, lt.hash_failed_alert):
            failed += 1
            print(f"HASHFAIL {a.piece_index}", flush=True)
    s = h.status()
    if s.is_seeding:
        print(f"DONE failed={failed} after {time.time() - started:.1f}s", flush=True)
        sys.exit(0)
    for p in h.get_peer_info():
        name = f"{p.ip[0]}:{p.ip[1]}"
        # Its crypto flags are known once the handshake is over.
        if name not in peers_seen and not p.flags & (p.connecting | p.handshake):
            peers_seen.add(name)
            crypto = ("rc4" if p.flags & p.rc4_encrypted else
                      "obfuscated" if p.flags & p.plaintext_encrypted else "plaintext")
            print(f"PEER {name} {crypto}", flush=True)
    if s.num_peers == 0 and time.time() - last_connect > 0.5:
        h.connect_peer(("127.0.0.1", peer))
        last_connect = time.time()
    time.sleep(0.05)
print(f"TIMEOUT progress={h.status().progress:.3f} failed={failed}", flush=True)
sys.exit(1)
