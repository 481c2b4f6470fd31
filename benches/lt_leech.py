#!/usr/bin/python3
"""Download one .torrent with python3-libtorrent on 127.0.0.1 and exit when
complete (benchmark leecher). usage: lt_leech.py TORRENT SAVE_PATH PORT
LT_ENC in the environment sets its encryption (MSE/PE) both ways, as in
tests/support/lt_seed.py: "forced" (RC4 only) or "disabled" (plaintext)."""
import os, sys, time
import libtorrent as lt

torrent, save_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ses = lt.session({
    "listen_interfaces": f"127.0.0.1:{port}",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    # TCP like the other leechers: between two libtorrents on loopback uTP
    # is preferred and measured 10x slower here.
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    **({
        "forced": {"out_enc_policy": int(lt.enc_policy.forced), "in_enc_policy": int(lt.enc_policy.forced),
                   "allowed_enc_level": int(lt.enc_level.rc4), "prefer_rc4": True},
        "disabled": {"out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled)},
    }[os.environ["LT_ENC"]] if os.environ.get("LT_ENC") else {}),
})
h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
deadline = time.time() + 3600
while time.time() < deadline:
    s = h.status()
    if s.is_seeding:
        sys.exit(0)
    if s.errc.value() != 0:
        print(f"ERROR {s.errc.message()}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.05)
sys.exit(2)
