#!/usr/bin/python3
"""Minimal BitTorrent peer that serves arbitrary (possibly hostile) torrent
metadata over ut_metadata (BEP 9 on top of the BEP 10 extension protocol).

Test fixture: lets tests make the client under test (goat) fetch metadata
it must reject, e.g. a `piece length` of 0 or file lengths whose sum
overflows u64. It only ever talks on 127.0.0.1 and owns no pieces: it never
sends a bitfield or have messages, only the metadata.

usage:
  meta_peer.py INFO_FILE PORT LIFETIME_SECONDS
      Serve the raw bencoded info dict in INFO_FILE (info-hash = sha1 of its
      bytes) on 127.0.0.1:PORT. Prints "LISTENING <port>", then one line per
      event: "CONN <addr>", "REQ <piece>", "SENT <piece>",
      "CLOSED <addr> <reason>". Exits 0 after LIFETIME_SECONDS.
  meta_peer.py --make-info OUT_FILE KIND
      Write a hostile info dict (KIND: zero-piece-length, overflow,
      hash-count) and print its info-hash in hex.
"""
import hashlib, os, socket, struct, sys, threading, time

PSTR = b"\x13BitTorrent protocol"
OUR_UT_METADATA = 3
BLOCK = 16384
_print_lock = threading.Lock()


def say(*parts):
    with _print_lock:
        print(*parts, flush=True)


def bencode(v):
    if isinstance(v, bool) or not isinstance(v, (int, str, bytes, list, dict)):
        raise TypeError(f"cannot bencode {type(v).__name__}")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
    return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"


def bdecode(data, i=0):
    """Decode one value at data[i:]; return (value, end offset). Trailing
    bytes after the value (e.g. a metadata piece) are left alone."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c in (b"l", b"d"):
        i += 1
        out = []
        while data[i:i + 1] != b"e":
            if i >= len(data):
                raise ValueError("unterminated list/dict")
            v, i = bdecode(data, i)
            out.append(v)
        if c == b"l":
            return out, i + 1
        return dict(zip(out[::2], out[1::2])), i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        if colon + 1 + n > len(data):
            raise ValueError("truncated string")
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    raise ValueError(f"bad bencode at offset {i}")


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("lifetime over")
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            continue
        if not chunk:
            raise ConnectionError("eof")
        buf += chunk
    return buf


def ext_msg(ext_id, payload):
    body = bytes([20, ext_id]) + payload
    return struct.pack(">I", len(body)) + body


def serve(sock, addr, info, info_hash, deadline):
    addr = f"{addr[0]}:{addr[1]}"
    say("CONN", addr)
    reason = "done"
    try:
        hs = recv_exact(sock, 68, deadline)
        if hs[:20] != PSTR:
            raise ValueError("bad-handshake")
        if hs[28:48] != info_hash:
            raise ValueError("wrong-info-hash")
        reserved = bytearray(8)
        reserved[5] |= 0x10
        peer_id = b"-MP0001-" + os.urandom(12)
        sock.sendall(PSTR + bytes(reserved) + info_hash + peer_id)
        sock.sendall(ext_msg(0, bencode({"m": {"ut_metadata": OUR_UT_METADATA},
                                         "metadata_size": len(info), "v": "meta_peer"})))
        remote_id, pending = None, []
        n_pieces = (len(info) + BLOCK - 1) // BLOCK
        while True:
            (length,) = struct.unpack(">I", recv_exact(sock, 4, deadline))
            if length == 0:
                continue  # keepalive
            if length > 4 * 1024 * 1024:
                raise ValueError(f"oversize-message-{length}")
            msg = recv_exact(sock, length, deadline)
            if msg[0] != 20 or len(msg) < 2:
                continue  # interested, bitfield, ...: ignored
            if msg[1] == 0:
                d, _ = bdecode(msg, 2)
                m = d.get(b"m", {}) if isinstance(d, dict) else {}
                rid = m.get(b"ut_metadata") if isinstance(m, dict) else None
                if isinstance(rid, int) and 0 < rid < 256:
                    remote_id = rid
            elif msg[1] == OUR_UT_METADATA:
                d, _ = bdecode(msg, 2)
                if isinstance(d, dict) and d.get(b"msg_type") == 0:
                    piece = d.get(b"piece")
                    say("REQ", piece)
                    pending.append(piece)
            if remote_id is None:
                continue  # wait for the remote's extended handshake
            for piece in pending:
                if isinstance(piece, int) and 0 <= piece < n_pieces:
                    head = bencode({"msg_type": 1, "piece": piece, "total_size": len(info)})
                    sock.sendall(ext_msg(remote_id, head + info[piece * BLOCK:(piece + 1) * BLOCK]))
                    say("SENT", piece)
                else:
                    sock.sendall(ext_msg(remote_id, bencode({"msg_type": 2, "piece": piece if isinstance(piece, int) else 0})))
                    say("REJECTED", piece)
            pending = []
    except (ConnectionError, TimeoutError, OSError, ValueError, IndexError, struct.error) as e:
        reason = str(e).split("\n")[0].replace(" ", "-") or type(e).__name__
    finally:
        sock.close()
        say("CLOSED", addr, reason)


def make_info(out_file, kind):
    zero20 = b"\0" * 20
    if kind == "zero-piece-length":
        d = {"name": "model", "piece length": 0, "length": 100, "pieces": zero20}
    elif kind == "overflow":
        d = {"name": "model", "piece length": 65536, "pieces": zero20,
             "files": [{"length": 2**63, "path": ["a.bin"]},
                       {"length": 2**63, "path": ["b.bin"]},
                       {"length": 100, "path": ["c.bin"]}]}
    elif kind == "hash-count":  # 1000000 bytes / 65536 needs 16 hashes; has 3
        d = {"name": "model", "piece length": 65536, "length": 1000000, "pieces": zero20 * 3}
    else:
        sys.exit(f"unknown KIND {kind!r} (zero-piece-length, overflow, hash-count)")
    data = bencode(d)
    with open(out_file, "wb") as f:
        f.write(data)
    print(hashlib.sha1(data).hexdigest(), flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--make-info":
        return make_info(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        info = f.read()
    port, lifetime = int(sys.argv[2]), float(sys.argv[3])
    deadline = time.time() + lifetime
    info_hash = hashlib.sha1(info).digest()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(16)
    say("LISTENING", lsock.getsockname()[1])
    while time.time() < deadline:
        lsock.settimeout(max(0.01, min(0.5, deadline - time.time())))
        try:
            conn, addr = lsock.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, addr, info, info_hash, deadline),
                         daemon=True).start()
    lsock.close()
    sys.stdout.flush()
    os._exit(0)  # daemon threads may still be blocked in recv; do not wait


if __name__ == "__main__":
    main()
