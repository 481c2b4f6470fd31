//! DHT announces that reach a small network: BEP 5's `get_peers` walk
//! towards the info-hash, then `announce_peer` to the closest nodes that
//! answered with a token, however far they are.
//!
//! Why goat speaks this itself: librqbit-dht 9.1 announces only to nodes
//! whose id shares 16 bits with the info-hash
//! (`RecursiveRequestCallbacksGetPeers::min_distance_to_announce`). On the
//! public DHT a few hundred nodes are that close to any info-hash; in a
//! network of three nodes none is, so a librqbit seeder is never found by a
//! leecher that only looks up (docs/swarm.md). librqbit has no API to
//! announce otherwise or to add nodes to its table, so goat walks and
//! announces from its own UDP socket, starting from every node it knows:
//! librqbit's routing tables, the configured bootstrap nodes, and the
//! torrent's peers (BitTorrent clients answer the DHT on their peer port).
//!
//! Queries carry `ro=1` (BEP 43): the socket is not a DHT node that answers
//! queries, so no node should put it in its routing table. What is stored
//! by an `announce_peer` is this machine's address (the packet's source)
//! and the port peers reach goat on (`implied_port=0`).
//!
//! Everything read from the network is bounded: nodes per walk (`MAX_NODES`),
//! rounds (`ROUNDS`), time per round (`ROUND`), walks at once (`WALKS`).
//! A lying node can make goat send a few hundred small packets in all, and
//! can fail to store the announce; it cannot make goat store or print
//! anything of its own.

use librqbit_bencode::{BencodeValue, ByteBufOwned};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Nodes announced to: BEP 5's K.
pub const K: usize = 8;
/// Queries in flight per round.
const ALPHA: usize = 8;
/// Rounds of the walk.
const ROUNDS: usize = 8;
/// Time a round waits for its answers.
const ROUND: Duration = Duration::from_millis(1500);
/// Nodes a walk keeps track of.
const MAX_NODES: usize = 256;
/// Peers kept from a walk's `values`.
const MAX_PEERS: usize = 200;
/// Walks at once, each on a socket of its own.
const WALKS: usize = 4;

/// What one announce did, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Announced {
    /// Nodes that answered `get_peers`.
    pub answered: usize,
    /// Nodes that acknowledged the `announce_peer`.
    pub stored: usize,
}

#[derive(Clone)]
struct Node {
    id: Option<[u8; 20]>,
    state: State,
}

#[derive(Clone, PartialEq, Eq)]
enum State {
    New,
    Asked,
    Answered(Vec<u8>),
    Failed,
}

/// Walk towards `info_hash` from `start` (addresses, with the node's id
/// where it is known) and announce `port` to the `K` closest nodes that
/// answered. `own_id` is the id goat's queries carry.
pub async fn announce(
    socket: &UdpSocket,
    own_id: [u8; 20],
    info_hash: [u8; 20],
    port: u16,
    start: &[(SocketAddr, Option<[u8; 20]>)],
) -> Announced {
    let (nodes, answered, _) = walk(socket, own_id, info_hash, start, ROUNDS).await;
    // Announce to the K closest that answered with a token.
    let targets = closest_answered(&nodes, &info_hash);
    let mut waiting: HashMap<[u8; 4], SocketAddr> = HashMap::new();
    for a in targets.iter().take(K) {
        let State::Answered(token) = &nodes[a].state else { continue };
        let t = tid(&waiting);
        if socket.send_to(&announce_peer(&t, &own_id, &info_hash, port, token), a).await.is_ok() {
            waiting.insert(t, *a);
        }
    }
    let stored = replies(socket, &mut waiting).await.iter().filter(|(_, r)| r.id.is_some()).count();
    Announced { answered, stored }
}

/// The replies to the queries in `waiting` (each only from the address it
/// was sent to) that arrive within `ROUND`; those answered leave `waiting`.
async fn replies(socket: &UdpSocket, waiting: &mut HashMap<[u8; 4], SocketAddr>) -> Vec<(SocketAddr, Reply)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    let deadline = tokio::time::Instant::now() + ROUND;
    while !waiting.is_empty() {
        let Ok(Ok((len, from))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await else {
            break;
        };
        let Some(reply) = Reply::parse(&buf[..len]) else { continue };
        if waiting.get(&reply.tid) == Some(&from) {
            waiting.remove(&reply.tid);
            got.push((from, reply));
        }
    }
    got
}

/// Peers of `info_hash` that the DHT names, from a walk of at most
/// `rounds` rounds (the nodes goat knows, the bootstrap nodes among them,
/// asked first: librqbit's own lookup never asks a bootstrap node,
/// `docs/swarm.md`).
pub async fn lookup(
    socket: &UdpSocket,
    own_id: [u8; 20],
    info_hash: [u8; 20],
    start: &[(SocketAddr, Option<[u8; 20]>)],
    rounds: usize,
) -> Vec<SocketAddr> {
    walk(socket, own_id, info_hash, start, rounds.min(ROUNDS)).await.2
}

/// BEP 5's walk towards `info_hash`: the nodes met (with what each
/// answered), how many answered, and the peers they named.
async fn walk(
    socket: &UdpSocket,
    own_id: [u8; 20],
    info_hash: [u8; 20],
    start: &[(SocketAddr, Option<[u8; 20]>)],
    rounds: usize,
) -> (HashMap<SocketAddr, Node>, usize, Vec<SocketAddr>) {
    let mut nodes: HashMap<SocketAddr, Node> = HashMap::new();
    for (a, id) in start.iter().filter(|(a, _)| usable(a)) {
        if nodes.len() < MAX_NODES && !crowded(&nodes, a) {
            nodes.entry(*a).or_insert(Node { id: *id, state: State::New });
        }
    }
    let (mut answered_count, mut peers) = (0, Vec::new());
    for _ in 0..rounds {
        // The closest known ids first, then the nodes whose id is unknown
        // (bootstrap nodes, peers): in a small network those are all there
        // is; in a large one the routing table's own nodes lead.
        let mut ask: Vec<SocketAddr> = nodes.iter().filter(|(_, n)| n.state == State::New).map(|(a, _)| *a).collect();
        ask.sort_by_key(|a| match nodes[a].id {
            Some(id) => (0, distance(&id, &info_hash)),
            None => (1, [0; 20]),
        });
        // Stop when no node left to ask is closer than the K-th closest
        // that answered.
        let answered = closest_answered(&nodes, &info_hash);
        if let Some(kth) = answered.get(K - 1).and_then(|a| nodes[a].id) {
            let kth = distance(&kth, &info_hash);
            ask.retain(|a| nodes[a].id.is_none_or(|id| distance(&id, &info_hash) < kth));
        }
        ask.truncate(ALPHA);
        if ask.is_empty() {
            break;
        }
        let mut waiting: HashMap<[u8; 4], SocketAddr> = HashMap::new();
        for a in &ask {
            let t = tid(&waiting);
            let sent = socket.send_to(&get_peers(&t, &own_id, &info_hash), a).await.is_ok();
            if let Some(n) = nodes.get_mut(a) {
                n.state = if sent { State::Asked } else { State::Failed };
            }
            if sent {
                waiting.insert(t, *a);
            }
        }
        for (from, reply) in replies(socket, &mut waiting).await {
            let Some(id) = reply.id else {
                nodes.entry(from).and_modify(|n| n.state = State::Failed);
                continue;
            };
            answered_count += 1;
            for p in reply.peers {
                if peers.len() < MAX_PEERS && usable(&p) && reach(p.ip()) <= reach(from.ip()) && !peers.contains(&p) {
                    peers.push(p);
                }
            }
            nodes.entry(from).and_modify(|n| {
                n.id = Some(id);
                n.state = reply.token.map(State::Answered).unwrap_or(State::Failed);
            });
            for (nid, a) in reply.nodes {
                // A node names only nodes of its own reach or wider: one on
                // the internet cannot point goat at a loopback or LAN port.
                if nodes.len() >= MAX_NODES || !usable(&a) || reach(a.ip()) > reach(from.ip()) || crowded(&nodes, &a) {
                    continue;
                }
                nodes.entry(a).or_insert(Node { id: Some(nid), state: State::New });
            }
        }
        for a in waiting.values() {
            nodes.entry(*a).and_modify(|n| n.state = State::Failed);
        }
    }
    (nodes, answered_count, peers)
}

/// A fresh random transaction id, unlike those still awaited: a node that
/// can forge source addresses cannot guess the ids sent to the others.
fn tid(waiting: &HashMap<[u8; 4], SocketAddr>) -> [u8; 4] {
    loop {
        let t = fastrand::u32(..).to_be_bytes();
        if !waiting.contains_key(&t) {
            return t;
        }
    }
}

/// How far an address reaches: the internet (0), a private network (1),
/// this machine (2).
fn reach(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) if a.is_loopback() => 2,
        IpAddr::V4(a)
            if a.is_private() || a.is_link_local() || (a.octets()[0] == 100 && a.octets()[1] & 0xc0 == 64) =>
        {
            1
        }
        IpAddr::V6(a) if a.is_loopback() => 2,
        IpAddr::V6(a) if (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80 => 1,
        _ => 0,
    }
}

/// One node per internet address, as libtorrent keeps by default: one
/// host with many ports, each claiming an id next to the info-hash, would
/// otherwise take every announce. Loopback and private networks are
/// exempt (a closed network often runs on one host).
fn crowded(nodes: &HashMap<SocketAddr, Node>, a: &SocketAddr) -> bool {
    reach(a.ip()) == 0 && nodes.keys().any(|k| k.ip() == a.ip() && k != a)
}

/// Nodes that answered with a token, closest to `target` first.
fn closest_answered(nodes: &HashMap<SocketAddr, Node>, target: &[u8; 20]) -> Vec<SocketAddr> {
    let mut v: Vec<(SocketAddr, [u8; 20])> = nodes
        .iter()
        .filter_map(|(a, n)| match (&n.state, n.id) {
            (State::Answered(_), Some(id)) => Some((*a, id)),
            _ => None,
        })
        .collect();
    v.sort_by_key(|(_, id)| distance(id, target));
    v.into_iter().map(|(a, _)| a).collect()
}

/// BEP 5's XOR metric, comparable as bytes.
fn distance(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Addresses a DHT node can have (not unspecified, multicast, broadcast or
/// port 0). Loopback and private networks stay: a closed network is real.
fn usable(a: &SocketAddr) -> bool {
    a.port() != 0
        && match a.ip() {
            IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast()),
            IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
        }
}

#[derive(serde::Serialize)]
struct Query<A> {
    a: A,
    q: &'static str,
    ro: u8,
    t: ByteBufOwned,
    y: &'static str,
}

#[derive(serde::Serialize)]
struct GetPeers {
    id: ByteBufOwned,
    info_hash: ByteBufOwned,
}

#[derive(serde::Serialize)]
struct AnnouncePeer {
    id: ByteBufOwned,
    implied_port: u8,
    info_hash: ByteBufOwned,
    port: u16,
    token: ByteBufOwned,
}

fn encode<A: serde::Serialize>(q: &'static str, t: &[u8; 4], a: A) -> Vec<u8> {
    let mut out = Vec::new();
    let query = Query { a, q, ro: 1, t: ByteBufOwned::from(&t[..]), y: "q" };
    // Writing to a Vec of plain fields cannot fail.
    let _ = librqbit_bencode::bencode_serialize_to_writer(&query, &mut out);
    out
}

fn get_peers(t: &[u8; 4], id: &[u8; 20], info_hash: &[u8; 20]) -> Vec<u8> {
    encode("get_peers", t, GetPeers { id: (&id[..]).into(), info_hash: (&info_hash[..]).into() })
}

fn announce_peer(t: &[u8; 4], id: &[u8; 20], info_hash: &[u8; 20], port: u16, token: &[u8]) -> Vec<u8> {
    let a = AnnouncePeer {
        id: (&id[..]).into(),
        implied_port: 0,
        info_hash: (&info_hash[..]).into(),
        port,
        token: token.into(),
    };
    encode("announce_peer", t, a)
}

/// A response (`y` = `r`) to one of goat's queries, as far as goat reads it.
#[derive(Debug, Default)]
struct Reply {
    tid: [u8; 4],
    id: Option<[u8; 20]>,
    token: Option<Vec<u8>>,
    nodes: Vec<([u8; 20], SocketAddr)>,
    peers: Vec<SocketAddr>,
}

impl Reply {
    /// None for anything but a response to a four-byte transaction id.
    fn parse(bytes: &[u8]) -> Option<Reply> {
        let BencodeValue::Dict(d) = librqbit_bencode::dyn_from_bytes::<&[u8]>(bytes).ok()? else { return None };
        let get = |k: &[u8]| d.get(k);
        match get(b"y") {
            Some(BencodeValue::Bytes(b"r")) => {}
            _ => return None,
        }
        let tid = match get(b"t") {
            Some(BencodeValue::Bytes(t)) => <[u8; 4]>::try_from(*t).ok()?,
            _ => return None,
        };
        let BencodeValue::Dict(r) = get(b"r")? else { return None };
        let mut out = Reply { tid, ..Default::default() };
        if let Some(BencodeValue::Bytes(id)) = r.get(&b"id"[..]) {
            out.id = <[u8; 20]>::try_from(*id).ok();
        }
        if let Some(BencodeValue::Bytes(tok)) = r.get(&b"token"[..]) {
            // BEP 5 tokens are short; a long one is not stored or echoed.
            if !tok.is_empty() && tok.len() <= 64 {
                out.token = Some(tok.to_vec());
            }
        }
        if let Some(BencodeValue::Bytes(n)) = r.get(&b"nodes"[..]) {
            out.nodes = n
                .chunks_exact(26)
                .take(MAX_NODES)
                .map(|c| {
                    let id: [u8; 20] = c[..20].try_into().expect("26-byte chunk");
                    (id, v4(&c[20..]))
                })
                .collect();
        }
        if let Some(BencodeValue::List(vs)) = r.get(&b"values"[..]) {
            out.peers = vs
                .iter()
                .take(MAX_PEERS)
                .filter_map(|v| match v {
                    BencodeValue::Bytes(b) if b.len() == 6 => Some(v4(b)),
                    _ => None,
                })
                .collect();
        }
        Some(out)
    }
}

/// A compact IPv4 address and port (BEP 5).
fn v4(b: &[u8]) -> SocketAddr {
    SocketAddr::new(IpAddr::from([b[0], b[1], b[2], b[3]]), u16::from_be_bytes([b[4], b[5]]))
}

/// How often each torrent is announced again (libtorrent's default DHT
/// announce interval; announces expire after 30 minutes on most nodes).
const REANNOUNCE: Duration = Duration::from_secs(15 * 60);
/// How soon an announce that reached no node is tried again (the DHT may
/// not have found any node yet).
const RETRY: Duration = Duration::from_secs(20);
/// How often the session's torrents are looked over.
const TICK: Duration = Duration::from_secs(2);

/// The task announcing every torrent of a session, for as long as it is
/// held; the outcome of each torrent's last announce is kept.
pub struct Announcer {
    task: tokio::task::JoinHandle<()>,
}

/// Each torrent's last announce, by info-hash.
pub type Book = Arc<Mutex<HashMap<[u8; 20], Announced>>>;

/// A torrent's last announce in `book` (None: not announced yet).
pub fn last(book: &Book, info_hash: &[u8; 20]) -> Option<Announced> {
    book.lock().unwrap_or_else(|e| e.into_inner()).get(info_hash).cloned()
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Announcer {
    /// Start announcing the torrents of `session` with the port peers
    /// reach goat on, from UDP sockets on `ip` (ports chosen by the
    /// system). `bootstrap` are the configured DHT nodes (host:port);
    /// each outcome goes into `book`.
    pub async fn start(
        session: Weak<librqbit::Session>,
        ip: IpAddr,
        port: u16,
        bootstrap: Vec<String>,
        book: Book,
    ) -> std::io::Result<Announcer> {
        // Bound once here so that an address goat cannot use is said at
        // start; each walk then binds a socket of its own.
        UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let task = tokio::spawn(run(ip, session, port, bootstrap, book));
        Ok(Announcer { task })
    }
}

async fn run(ip: IpAddr, session: Weak<librqbit::Session>, port: u16, bootstrap: Vec<String>, last: Book) {
    let mut due: HashMap<[u8; 20], tokio::time::Instant> = HashMap::new();
    loop {
        let Some(s) = session.upgrade() else { return };
        let now = tokio::time::Instant::now();
        let torrents: Vec<Arc<librqbit::ManagedTorrent>> = s.with_torrents(|all| all.map(|(_, t)| t.clone()).collect());
        due.retain(|h, _| torrents.iter().any(|t| t.info_hash().0 == *h));
        last.lock().unwrap_or_else(|e| e.into_inner()).retain(|h, _| torrents.iter().any(|t| t.info_hash().0 == *h));
        // The most overdue first (never announced: first of all), so that
        // torrents whose announces keep failing cannot hold back the rest.
        let mut todo: Vec<(Option<tokio::time::Instant>, Arc<librqbit::ManagedTorrent>)> = torrents
            .into_iter()
            .map(|t| (due.get(&t.info_hash().0).copied(), t))
            .filter(|(at, _)| at.is_none_or(|at| at <= now))
            .collect();
        todo.sort_by_key(|(at, _)| *at);
        todo.truncate(WALKS);
        if todo.is_empty() {
            drop(s);
            tokio::time::sleep(TICK).await;
            continue;
        }
        let (own_id, known) = known_nodes(&s, &bootstrap).await;
        let walks = todo.into_iter().map(|(_, t)| {
            let mut start = known.clone();
            start.extend(t.live().into_iter().flat_map(|l| {
                l.per_peer_stats_snapshot(Default::default())
                    .peers
                    .into_keys()
                    .filter_map(|a| a.parse::<SocketAddr>().ok())
                    .map(|a| (a, None))
            }));
            // Incoming peers reach librqbit from the gate's loopback alias.
            start.retain(|(a, _)| a.ip() != IpAddr::from(super::gate::INCOMING_FROM));
            start.sort();
            start.dedup_by_key(|(a, _)| *a);
            let info_hash = t.info_hash().0;
            async move {
                let got = match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
                    Ok(socket) => announce(&socket, own_id, info_hash, port, &start).await,
                    Err(e) => {
                        tracing::debug!(target: "goat", "DHT announce: no socket: {e}");
                        Announced::default()
                    }
                };
                (info_hash, got)
            }
        });
        drop(s);
        for (info_hash, got) in futures::future::join_all(walks).await {
            tracing::debug!(target: "goat", "DHT announce of {}: {} nodes answered, {} stored it", hex::encode(info_hash), got.answered, got.stored);
            due.insert(info_hash, tokio::time::Instant::now() + if got.stored == 0 { RETRY } else { REANNOUNCE });
            last.lock().unwrap_or_else(|e| e.into_inner()).insert(info_hash, got);
        }
    }
}

/// The id goat's queries carry and the nodes it knows: librqbit's routing
/// tables (with their ids) and the configured bootstrap nodes.
pub async fn known_nodes(
    session: &librqbit::Session,
    bootstrap: &[String],
) -> ([u8; 20], Vec<(SocketAddr, Option<[u8; 20]>)>) {
    let (own_id, mut known) = match session.get_dht() {
        Some(dht) => dht.with_routing_tables(|v4, v6| {
            let nodes = v4.iter().chain(v6.iter()).map(|n| (n.addr(), Some(n.id().0))).collect::<Vec<_>>();
            (v4.id().0, nodes)
        }),
        None => (fastrand_id(), Vec::new()),
    };
    for b in bootstrap {
        if let Ok(Ok(addrs)) = tokio::time::timeout(ROUND, tokio::net::lookup_host(b.as_str())).await {
            known.extend(addrs.filter(SocketAddr::is_ipv4).map(|a| (a, None)));
        }
    }
    (own_id, known)
}

fn fastrand_id() -> [u8; 20] {
    std::array::from_fn(|_| fastrand::u8(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_bencoded_with_sorted_keys_and_read_only() {
        let q = get_peers(b"aaaa", &[1; 20], &[2; 20]);
        let want =
            [&b"d1:ad2:id20:"[..], &[1; 20], b"9:info_hash20:", &[2; 20], b"e1:q9:get_peers2:roi1e1:t4:aaaa1:y1:qe"]
                .concat();
        assert_eq!(q, want);
        let a = announce_peer(b"abab", &[1; 20], &[2; 20], 6881, b"tok");
        assert!(a.windows(17).any(|w| w == b"12:implied_porti0"), "{}", String::from_utf8_lossy(&a));
        assert!(a.windows(14).any(|w| w == b"4:porti6881e5:"), "{}", String::from_utf8_lossy(&a));
    }

    #[test]
    fn replies_are_read_within_bounds_and_anything_else_is_ignored() {
        let node = [[7u8; 20].as_slice(), &[127, 0, 0, 1, 0x1a, 0xe1]].concat();
        let mut nodes = node.repeat(3);
        nodes.extend_from_slice(&[9; 5]); // a trailing partial entry
        let r = [
            &b"d1:rd2:id20:"[..],
            &[3; 20],
            b"5:nodes",
            format!("{}:", nodes.len()).as_bytes(),
            &nodes,
            b"5:token3:tok6:valuesl6:",
            &[10, 0, 0, 9, 0, 80],
            b"3:xyzee1:t4:zzzz1:y1:re",
        ]
        .concat();
        let reply = Reply::parse(&r).expect("a response");
        assert_eq!(reply.tid, *b"zzzz");
        assert_eq!(reply.id, Some([3; 20]));
        assert_eq!(reply.token.as_deref(), Some(&b"tok"[..]));
        assert_eq!(reply.nodes.len(), 3);
        assert_eq!(reply.nodes[0].1, "127.0.0.1:6881".parse().unwrap());
        assert_eq!(reply.peers, vec!["10.0.0.9:80".parse().unwrap()]);
        // errors, queries, garbage, a long transaction id: not replies
        for bad in [
            &b"d1:eli201e5:errore1:t4:zzzz1:y1:ee"[..],
            b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t4:zzzz1:y1:qe",
            b"\xff\x00garbage",
            b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaae1:t3:zzz1:y1:re",
            b"",
        ] {
            assert!(Reply::parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(!usable(&"0.0.0.0:1".parse().unwrap()) && !usable(&"1.2.3.4:0".parse().unwrap()));
        assert!(usable(&"127.0.0.1:6881".parse().unwrap()));
    }

    #[test]
    fn one_node_per_internet_address_and_none_pointed_inwards() {
        let node = Node { id: None, state: State::New };
        let mut nodes = HashMap::new();
        nodes.insert("198.51.100.7:6881".parse().unwrap(), node.clone());
        nodes.insert("127.0.0.1:7000".parse().unwrap(), node.clone());
        nodes.insert("192.168.1.5:7000".parse().unwrap(), node);
        assert!(crowded(&nodes, &"198.51.100.7:6882".parse().unwrap()));
        assert!(!crowded(&nodes, &"198.51.100.7:6881".parse().unwrap()));
        assert!(!crowded(&nodes, &"127.0.0.1:7001".parse().unwrap()));
        assert!(!crowded(&nodes, &"192.168.1.5:7001".parse().unwrap()));
        let r = |s: &str| reach(s.parse().unwrap());
        assert_eq!((r("198.51.100.7"), r("10.1.2.3"), r("100.64.0.1"), r("127.0.0.1"), r("fd00::1")), (0, 1, 1, 2, 1));
    }

    /// Three scripted nodes on loopback, none near the info-hash: the walk
    /// reaches the two it learns of and announces to all three.
    #[tokio::test]
    async fn a_walk_announces_to_every_node_of_a_small_network() {
        let ih = [0xAB; 20];
        let mut socks = Vec::new();
        for _ in 0..3 {
            socks.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        let compact = |i: usize| {
            let SocketAddr::V4(a) = addrs[i] else { unreachable!() };
            [[i as u8; 20].as_slice(), &a.ip().octets(), &a.port().to_be_bytes()].concat()
        };
        let known = [compact(1), compact(2)].concat();
        let mut tasks = Vec::new();
        for (i, s) in socks.into_iter().enumerate() {
            let known = if i == 0 { known.clone() } else { Vec::new() };
            tasks.push(tokio::spawn(async move {
                let mut stored = None;
                let mut buf = vec![0u8; 2048];
                while let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf)).await
                {
                    let BencodeValue::Dict(d) = librqbit_bencode::dyn_from_bytes::<&[u8]>(&buf[..n]).unwrap() else {
                        panic!()
                    };
                    let Some(BencodeValue::Bytes(t)) = d.get(&b"t"[..]) else { panic!() };
                    let Some(BencodeValue::Bytes(q)) = d.get(&b"q"[..]) else { panic!() };
                    let Some(BencodeValue::Dict(a)) = d.get(&b"a"[..]) else { panic!() };
                    if *q == b"announce_peer" {
                        let Some(BencodeValue::Integer(p)) = a.get(&b"port"[..]) else { panic!() };
                        let Some(BencodeValue::Bytes(tok)) = a.get(&b"token"[..]) else { panic!() };
                        assert_eq!(*tok, format!("tok{i}").as_bytes());
                        stored = Some(*p);
                    }
                    let body = [
                        &b"d1:rd2:id20:"[..],
                        &[i as u8; 20],
                        format!("5:nodes{}:", known.len()).as_bytes(),
                        &known,
                        format!("5:token4:tok{i}e1:t4:").as_bytes(),
                        t,
                        b"1:y1:re",
                    ]
                    .concat();
                    s.send_to(&body, from).await.unwrap();
                    if stored.is_some() {
                        break;
                    }
                }
                stored
            }));
        }
        let me = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let out = announce(&me, [0x55; 20], ih, 4321, &[(addrs[0], None)]).await;
        assert_eq!((out.answered, out.stored), (3, 3));
        for t in tasks {
            assert_eq!(t.await.unwrap(), Some(4321));
        }
    }
}
