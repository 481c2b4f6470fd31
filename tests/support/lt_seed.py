#!/usr/bin/python3
"""Seed one .torrent with python3-libtorrent on 127.0.0.1 (test support).

usage: lt_seed.py TORRENT SAVE_PATH PORT LIFETIME_SECS [UPLOAD_BYTES_PER_SEC]
Prints "SEEDING <port>" once the data is checked and it is seeding, and
stops by itself after LIFETIME_SECS. Loopback only: no DHT, LSD, UPnP.
LT_ENC in the environment sets libtorrent's encryption (MSE/PE) both ways:
"forced" (RC4 only, plaintext peers refused), "disabled" (plaintext only);
unset, libtorrent's default (either, plaintext payload preferred).
"""
import os, sys, time
import libtorrent as lt

torrent, save_path, port, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
settings = {
    "listen_interfaces": f"127.0.0.1:{port}",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "announce_to_all_trackers": True,
    "user_agent": "goat-test-libtorrent",
}
ENC = {
    "forced": {"out_enc_policy": int(lt.enc_policy.forced), "in_enc_policy": int(lt.enc_policy.forced),
               "allowed_enc_level": int(lt.enc_level.rc4), "prefer_rc4": True},
    "disabled": {"out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled)},
}
settings.update(ENC[os.environ["LT_ENC"]] if os.environ.get("LT_ENC") else {})

ses = lt.session(settings)
info = lt.torrent_info(torrent)
h = ses.add_torrent({"ti": info, "save_path": save_path})
if len(sys.argv) > 5:
    # On the torrent: a session limit would not apply to loopback peers
    # (libtorrent's local peer class is unlimited).
    h.set_upload_limit(int(sys.argv[5]))
# Incoming handshakes for a torrent still being checked are dropped, so
# READY waits until libtorrent is past checking.
checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
t0 = time.time()
while h.status().state in checking and time.time() - t0 < 20:
    time.sleep(0.1)
time.sleep(0.5)
print(f"READY {port}", flush=True)
deadline = time.time() + lifetime
announced = False
while time.time() < deadline:
    s = h.status()
    if s.is_seeding and not announced:
        h.force_reannounce()
        print(f"SEEDING {port}", flush=True)
        announced = True
    if s.errc.value() != 0:
        print(f"ERROR {s.errc.message()}", flush=True)
    time.sleep(0.2)
