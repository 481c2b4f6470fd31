#!/usr/bin/env bash
# A UPnP IGD / NAT-PMP gateway for tests, made of network namespaces.
#
#   bash tests/support/nat_gateway.sh up PREFIX v1|v2|pmp
#   bash tests/support/nat_gateway.sh down PREFIX
#
# `up` builds three namespaces and prints KEY=VALUE lines on stdout:
#
#   PREFIX-lan  192.168.77.2/24 on eth0, default route via the gateway:
#               where the program under test runs (ip netns exec PREFIX-lan ...)
#   PREFIX-gw   lan0 192.168.77.1/24, wan0 11.22.33.1/24; forwards and
#               masquerades LAN->WAN with nftables and runs Debian's miniupnpd
#               (nftables backend), which maps ports on 11.22.33.1
#   PREFIX-wan  11.22.33.2/24 on eth0: an outside peer; it has no route to the
#               LAN, so it reaches the LAN host only through a mapping
#
# v1 makes miniupnpd describe itself as InternetGatewayDevice:1 /
# WANIPConnection:1 (force_igd_desc_v1=yes); v2 keeps its default
# InternetGatewayDevice:2 / WANIPConnection:2. NAT-PMP/PCP answer on
# 192.168.77.1:5351 in both modes. pmp turns UPnP off (enable_upnp=no):
# only PCP and NAT-PMP answer, as on gateways that offer no UPnP.
#
# Nothing touches the machine's own network namespace: the veth pairs are
# created inside the gateway namespace, and every sysctl, nft rule and the
# daemon live inside the namespaces. `down` (idempotent) kills what `up`
# started and deletes the namespaces; a watchdog runs `down` by itself after
# GNAT_TTL seconds (default 1800) in case the test never does.
#
# Needs root and: ip (iproute2), nft (nftables), miniupnpd (miniupnpd-nftables),
# upnpc (miniupnpc), timeout, setsid. Exits non-zero with a one-line reason.
set -euo pipefail

die() { echo "nat_gateway.sh: $*" >&2; exit 1; }

usage() { die "usage: nat_gateway.sh up PREFIX v1|v2|pmp | down PREFIX"; }

[ $# -ge 2 ] || usage
cmd=$1
prefix=$2
# The prefix names namespaces and a folder: keep it to safe characters.
[[ $prefix =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad PREFIX '$prefix' (letters, digits, _ . - ; at most 40)"

lan_ns="$prefix-lan"
gw_ns="$prefix-gw"
wan_ns="$prefix-wan"
# Not under $TMPDIR: `down` must find what `up` wrote whatever its environment.
state="/tmp/nat_gateway.$prefix"

# Fixed addresses: each gateway's namespaces are closed worlds, so several
# gateways can run at once with the same numbers. The WAN side must be an
# address miniupnpd does not count as private or reserved (getifaddr.c
# addr_is_reserved: RFC1918, 100.64/10, 192.0.0/24, the TEST-NETs, 198.18/15,
# multicast...), or it logs "Reserved / private IP address ... Port forwarding
# is impossible" and refuses every mapping. 11.0.0.0/8 is on no such list;
# no packet to it ever leaves these namespaces, since none of them is
# connected to the machine's own network. The LAN side must be private: it
# refuses a public listening_ip.
lan_ip=192.168.77.2
gw_lan_ip=192.168.77.1
wan_ip=11.22.33.1
peer_ip=11.22.33.2
http_port=5000 # fixed, so the description URL is known in advance

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# Kills a pid if it is still alive: TERM, then KILL after a grace period.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

do_down() {
  # The watchdog of an earlier gateway with the same PREFIX must not tear down
  # a later one: it acts only while the token it was given is still current.
  if [ "${GNAT_FROM_WATCHDOG:-}" = 1 ] &&
    [ "$(cat "$state/token" 2>/dev/null || true)" != "${GNAT_TOKEN:-}" ]; then
    return 0
  fi
  # Called by the watchdog too: it must not kill itself. It is a session
  # leader (setsid): killing its group takes its sleep too.
  local wd
  if [ -f "$state/watchdog.pid" ] && [ "${GNAT_FROM_WATCHDOG:-}" != 1 ]; then
    wd=$(cat "$state/watchdog.pid" 2>/dev/null || true)
    if [ -n "$wd" ] && kill -0 "$wd" 2>/dev/null; then
      kill -TERM -- "-$wd" 2>/dev/null || kill -TERM "$wd" 2>/dev/null || true
    fi
  fi
  if [ -f "$state/miniupnpd.pid" ]; then
    stop_pid "$(cat "$state/miniupnpd.pid" 2>/dev/null || true)"
  fi
  # Anything else still running inside our namespaces (a listener a test left
  # behind) would keep the namespace alive after `ip netns del`; only
  # processes inside these namespaces, which this harness made, are touched.
  local ns pid
  for ns in "$lan_ns" "$gw_ns" "$wan_ns"; do
    ns_exists "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
      stop_pid "$pid"
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$state"
}

do_up() {
  local mode=$1
  case "$mode" in
    v1) force_v1=yes; upnp=yes; want_svc="urn:schemas-upnp-org:service:WANIPConnection:1" ;;
    v2) force_v1=no; upnp=yes; want_svc="urn:schemas-upnp-org:service:WANIPConnection:2" ;;
    pmp) force_v1=no; upnp=no; want_svc="" ;;
    *) usage ;;
  esac
  # sbin is not on every root PATH (ip, nft, miniupnpd live there).
  export PATH="$PATH:/usr/sbin:/sbin"
  local t
  for t in ip nft miniupnpd upnpc timeout setsid; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool '$t' (apt-get install iproute2 nftables miniupnpd-nftables miniupnpc coreutils util-linux)"
  done
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
  local self
  self=$(readlink -f "$0")
  local ns
  for ns in "$lan_ns" "$gw_ns" "$wan_ns"; do
    ! ns_exists "$ns" || die "namespace $ns already exists (run: nat_gateway.sh down $prefix)"
  done

  # From here on, any failure (set -e) undoes everything made so far. An
  # EXIT trap, not ERR: ERR traps do not reach into functions without set -E.
  trap 'echo "nat_gateway.sh: up failed; miniupnpd log tail:" >&2; tail -n 20 "$state/miniupnpd.log" >&2 2>/dev/null || true; do_down' EXIT

  rm -rf "$state"
  mkdir -p "$state"
  local token
  token=$(cat /proc/sys/kernel/random/uuid)
  echo "$token" >"$state/token"

  ip netns add "$lan_ns"
  ip netns add "$gw_ns"
  ip netns add "$wan_ns"
  for ns in "$lan_ns" "$gw_ns" "$wan_ns"; do
    ip -n "$ns" link set lo up
  done

  # veth pairs created inside the gateway namespace, the peer end moved
  # straight into its namespace: no interface ever appears in the machine's
  # own namespace, and the short fixed names cannot clash between gateways.
  ip -n "$gw_ns" link add lan0 type veth peer name eth0 netns "$lan_ns"
  ip -n "$gw_ns" link add wan0 type veth peer name eth0 netns "$wan_ns"

  ip -n "$gw_ns" addr add "$gw_lan_ip/24" dev lan0
  ip -n "$gw_ns" addr add "$wan_ip/24" dev wan0
  ip -n "$gw_ns" link set lan0 up
  ip -n "$gw_ns" link set wan0 up

  ip -n "$lan_ns" addr add "$lan_ip/24" dev eth0
  ip -n "$lan_ns" link set eth0 up
  ip -n "$lan_ns" route add default via "$gw_lan_ip"

  # The peer gets no default route: it can answer the gateway's WAN address
  # (where masqueraded LAN traffic comes from) and nothing else.
  ip -n "$wan_ns" addr add "$peer_ip/24" dev eth0
  ip -n "$wan_ns" link set eth0 up

  # Per-namespace sysctl: forwarding is switched on in the gateway only.
  ip netns exec "$gw_ns" sysctl -q -w net.ipv4.ip_forward=1

  # The tables and chains miniupnpd's nftables backend expects by default
  # (netfilter_nft/nftnlrdr_misc.c: table inet "filter", chains "miniupnpd",
  # "prerouting_miniupnpd", "postrouting_miniupnpd"), hooked in like
  # upstream's nft_init.sh. Debian's /etc/miniupnpd/nft_init.sh cannot be used
  # as shipped: it sources the iptables flavour of miniupnpd_functions.sh
  # (needs iptables, leaves $NFT/$TABLE unset) and writes /tmp/miniupnpd.nft.
  # Forward policy drop: the WAN reaches the LAN only through a mapping
  # (miniupnpd adds an accept rule to chain miniupnpd for each one).
  cat >"$state/gw.nft" <<'EOF'
table inet filter {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "lan0" oifname "wan0" accept
        jump miniupnpd
    }
    chain miniupnpd {
    }
    chain prerouting {
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
        oifname "wan0" masquerade
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
}
EOF
  ip netns exec "$gw_ns" nft -f "$state/gw.nft"

  # ext_ip is not needed: miniupnpd reads 11.22.33.1 from wan0 and accepts
  # it as public. listening_ip by interface name (it warns when given an
  # address). IPv6 is off (no IPv6 addressing here). secure_mode: a LAN host
  # may map ports only to itself (others get error 718). The allow/deny rules
  # admit ports 1024-65535 only (below that: error 606). min_lifetime only
  # applies to PCP (default 120 s): lowered so PCP tests can use short leases.
  # UPnP leases are honoured as asked (a 60 s mapping is gone after ~60 s);
  # lease 0 becomes 604800 s in both modes.
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$state/miniupnpd.conf" <<EOF
ext_ifname=wan0
listening_ip=lan0
ipv6_disable=yes
http_port=$http_port
enable_upnp=$upnp
enable_natpmp=yes
secure_mode=yes
system_uptime=no
notify_interval=30
clean_ruleset_interval=600
min_lifetime=1
max_lifetime=86400
lease_file=$state/upnp.leases
uuid=$uuid
force_igd_desc_v1=$force_v1
allow 1024-65535 192.168.77.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF

  # -d keeps it in the foreground and logs to stderr (no syslog daemon here),
  # -P its own pid file (the default /var/run/miniupnpd.pid would make a
  # second gateway think one is "already running"). setsid + closed stdio so
  # it outlives this script without holding the caller's pipes open; timeout
  # bounds it if `down` is never run.
  local ttl=${GNAT_TTL:-1800}
  ip netns exec "$gw_ns" setsid timeout -k 5 "$ttl" \
    miniupnpd -d -f "$state/miniupnpd.conf" -P "$state/miniupnpd.pid" \
    </dev/null >"$state/miniupnpd.log" 2>&1 &
  # The watchdog: tears everything down after the TTL.
  GNAT_FROM_WATCHDOG=1 GNAT_TOKEN=$token setsid bash -c 'sleep "$1"; exec bash "$2" down "$3"' _ "$((ttl + 10))" "$self" "$prefix" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$state/watchdog.pid"

  # Wait for the pid file (written after the redirection engine found its
  # nft chains) and, with UPnP on, the HTTP server; then for a full SSDP
  # discovery from the LAN (with UPnP off, the NAT-PMP socket instead).
  local i out=""
  for i in $(seq 1 100); do
    if [ -s "$state/miniupnpd.pid" ] && { [ "$upnp" = no ] || grep -q "HTTP listening on port" "$state/miniupnpd.log" 2>/dev/null; }; then
      break
    fi
    if grep -q "EXITING" "$state/miniupnpd.log" 2>/dev/null; then
      echo "nat_gateway.sh: miniupnpd exited at start" >&2
      false
    fi
    sleep 0.1
  done
  [ -s "$state/miniupnpd.pid" ] || { echo "nat_gateway.sh: miniupnpd did not start within 10 s" >&2; false; }
  # It runs on even when it judges the WAN address unusable, answering every
  # mapping with an error: catch that here, with its reason.
  if grep -q "Port forwarding is impossible" "$state/miniupnpd.log"; then
    echo "nat_gateway.sh: miniupnpd refuses to forward: $(grep -m1 'Port forwarding is impossible' "$state/miniupnpd.log")" >&2
    false
  fi
  if [ "$upnp" = yes ]; then
    for i in $(seq 1 3); do
      out=$(ip netns exec "$lan_ns" timeout 10 upnpc -s 2>&1 || true)
      # upnpc -s does not print the service type it picked; the SOAPAction
      # it sent, in miniupnpd's log, does.
      if grep -q "ExternalIPAddress = $wan_ip" <<<"$out" &&
        grep -q "SOAPAction: $want_svc#GetExternalIPAddress" "$state/miniupnpd.log"; then
        break
      fi
      printf '%s\n' "$out" >"$state/upnpc.out"
      out=""
      sleep 0.5
    done
    [ -n "$out" ] || { echo "nat_gateway.sh: upnpc -s from $lan_ns never found the IGD ($want_svc, $wan_ip); it said:" >&2; cat "$state/upnpc.out" >&2; false; }
  else
    # NAT-PMP's external address request (version 0, opcode 0) answered.
    for i in $(seq 1 50); do
      if ip netns exec "$lan_ns" timeout 2 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.sendto(b"\0\0", (sys.argv[1], 5351)); r = s.recv(16)
sys.exit(0 if len(r) == 12 and r[1] == 128 and r[2:4] == b"\0\0" else 1)' "$gw_lan_ip" 2>/dev/null; then
        out=ok
        break
      fi
      sleep 0.1
    done
    [ -n "$out" ] || { echo "nat_gateway.sh: NAT-PMP never answered on $gw_lan_ip:5351" >&2; false; }
  fi
  local desc_url
  desc_url=$(sed -n 's/^ *desc: *//p' <<<"$out" | head -n 1)
  trap - EXIT

  echo "LAN_NS=$lan_ns"
  echo "GW_NS=$gw_ns"
  echo "WAN_NS=$wan_ns"
  echo "LAN_IF=eth0"
  echo "LAN_IP=$lan_ip"
  echo "GW_LAN_IP=$gw_lan_ip"
  echo "WAN_IP=$wan_ip"
  echo "PEER_IP=$peer_ip"
  echo "IGD_VERSION=$mode"
  echo "SERVICE_TYPE=$want_svc"
  echo "DESC_URL=${desc_url:-http://$gw_lan_ip:$http_port/rootDesc.xml}"
  echo "NATPMP=$gw_lan_ip:5351"
  echo "MINIUPNPD_PID=$(cat "$state/miniupnpd.pid")"
  echo "MINIUPNPD_LOG=$state/miniupnpd.log"
  echo "STATE_DIR=$state"
}

case "$cmd" in
  up) [ $# -eq 3 ] || usage; do_up "$3" ;;
  down) [ $# -eq 2 ] || usage; do_down ;;
  *) usage ;;
esac
