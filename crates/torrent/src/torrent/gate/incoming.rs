//! Incoming peers: the announced port's listener, the per-network and
//! per-address slots that bound them, the first bytes read as plaintext or
//! MSE, and the connection to librqbit's own listener.

use super::*;

pub(super) async fn serve_incoming(l: TcpListener, shared: Arc<Shared>) {
    loop {
        match l.accept().await {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                admit(Box::new(sock), peer, false, &shared);
            }
            Err(e) => {
                tracing::debug!(target: "goat", "accepting a peer: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Incoming uTP streams, admitted as TCP connections are.
pub(super) async fn serve_utp(sock: Arc<librqbit_utp::UtpSocketUdp>, shared: Arc<Shared>) {
    loop {
        match sock.accept().await {
            Ok(s) => {
                let peer = s.remote_addr();
                admit(Box::new(s), peer, true, &shared);
            }
            Err(e) => {
                tracing::debug!(target: "goat", "accepting a uTP peer: {e:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Take the slots a new peer needs (or drop it at once) and handshake it
/// in a task of its own.
fn admit(sock: Stream, peer: SocketAddr, utp: bool, shared: &Arc<Shared>) {
    let pending = if utp { &shared.pending_utp } else { &shared.pending };
    let Ok(permit) = pending.clone().try_acquire_owned() else {
        tracing::debug!(target: "goat", "{peer}: dropped, {} handshakes already in progress", if utp { PENDING_UTP } else { PENDING });
        return;
    };
    let Some(slot) = shared.handshakes.take(network(peer.ip())) else {
        tracing::debug!(target: "goat", "{peer}: dropped, {PER_NETWORK} handshakes from its network already in progress");
        return;
    };
    // Loopback peers (local clients, tests) are not limited per address.
    let link_slot = if peer.ip().is_loopback() {
        None
    } else {
        match shared.links.take(peer.ip()) {
            Some(s) => Some(s),
            None => {
                tracing::debug!(target: "goat", "{peer}: dropped, {PER_IP_LINKS} connections from its address already open");
                return;
            }
        }
    };
    let Ok(link_permit) = shared.open_links.clone().try_acquire_owned() else {
        tracing::debug!(target: "goat", "{peer}: dropped, {MAX_LINKS} incoming connections already open");
        return;
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let opened = tokio::time::timeout(HANDSHAKE, incoming(sock, utp, &shared)).await;
        drop((permit, slot));
        let _held = (link_slot, link_permit);
        match opened {
            Ok(Ok(link)) => link.run(&shared).await,
            Ok(Err(e)) => tracing::debug!(target: "goat", "incoming peer {peer} dropped: {e}"),
            Err(_) => tracing::debug!(target: "goat", "incoming peer {peer} dropped: handshake over {HANDSHAKE:?}"),
        }
    });
}

/// Connections counted per key (an address, or its network), at most
/// `limit` each.
pub(super) struct Slots {
    pub(super) taken: Mutex<HashMap<IpAddr, u32>>,
    pub(super) limit: u32,
}

impl Slots {
    pub(super) fn new(limit: u32) -> Arc<Slots> {
        Arc::new(Slots { taken: Mutex::default(), limit })
    }

    pub(super) fn take(self: &Arc<Self>, key: IpAddr) -> Option<Slot> {
        let mut m = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key).or_default();
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot { slots: self.clone(), key })
    }
}

/// One of a key's slots, given back when dropped.
pub(super) struct Slot {
    pub(super) slots: Arc<Slots>,
    pub(super) key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.slots.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// The network an address is in, for the handshake limit: a /24 (IPv4)
/// or /48 (IPv6), so that a few addresses of one network cannot take
/// every handshake slot.
pub(super) fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            IpAddr::from([o[0], o[1], o[2], 0])
        }
        IpAddr::V6(a) => {
            let mut o = a.octets();
            o[6..].fill(0);
            IpAddr::from(o)
        }
    }
}

/// Read the peer's BitTorrent handshake, decrypting, after `pending`.
pub(super) async fn read_handshake<S: AsyncRead + Unpin + ?Sized>(
    s: &mut S,
    pending: &mut Vec<u8>,
    cipher: Option<&mut Cipher>,
) -> std::io::Result<()> {
    let have = pending.len();
    if have < HANDSHAKE_LEN {
        let mut more = vec![0u8; HANDSHAKE_LEN - have];
        s.read_exact(&mut more).await?;
        if let Some(c) = cipher {
            c.apply(&mut more);
        }
        pending.extend_from_slice(&more);
    }
    if &pending[..20] != PSTR {
        return Err(refused("not a BitTorrent handshake"));
    }
    Ok(())
}

pub(super) fn info_hash_of(handshake: &[u8]) -> [u8; 20] {
    handshake[28..48].try_into().expect("a 68-byte handshake")
}

pub(super) async fn incoming(mut sock: Stream, utp: bool, shared: &Shared) -> std::io::Result<Link> {
    let local_at = shared.local().ok_or_else(|| refused("the session is not listening yet"))?;
    let mut head = vec![0u8; 20];
    tokio::time::timeout(FIRST_BYTES, sock.read_exact(&mut head))
        .await
        .map_err(|_| refused(format!("nothing within {FIRST_BYTES:?}")))??;
    let (mut pending, read, write, method) = if head == PSTR {
        if shared.mode == Encryption::Require {
            return Err(refused("plaintext, and encryption is required"));
        }
        let mut pending = head;
        read_handshake(&mut sock, &mut pending, None).await?;
        // (Under MSE the SKEY was found among the session's torrents.)
        let info_hash = info_hash_of(&pending);
        if shared.find(|h| *h == info_hash).is_none() {
            return Err(refused("the peer asked for a torrent goat does not have"));
        }
        (pending, None, None, None)
    } else {
        let e = mse::respond(&mut sock, head, |r| shared.torrent(r), |p| shared.mode.choose(p)).await?;
        let (skey, method, mut read, write, mut pending) = (e.skey, e.method, e.read, e.write, e.pending);
        read_handshake(&mut sock, &mut pending, read.as_mut()).await?;
        if info_hash_of(&pending) != skey {
            return Err(refused("the handshake names another torrent than the MSE exchange"));
        }
        (pending, read, write, Some(method))
    };
    let info_hash = info_hash_of(&pending);
    let local = to_session(local_at).await?;
    let counted = Counted::new(&shared.counts, info_hash, method, utp);
    let watch = shared.watch(info_hash);
    Ok(Link {
        peer: sock,
        local,
        read,
        write,
        to_local: std::mem::take(&mut pending),
        _counted: counted,
        watch,
        info_hash,
        handshake_sent: false,
    })
}

/// A connection to librqbit's listener from `INCOMING_FROM` (from the
/// default loopback address where that one cannot be bound).
pub(super) async fn to_session(at: SocketAddr) -> std::io::Result<TcpStream> {
    let aliased = async {
        let s = tokio::net::TcpSocket::new_v4()?;
        s.bind(SocketAddr::new(INCOMING_FROM.into(), 0))?;
        s.connect(at).await
    };
    match aliased.await {
        Ok(s) => Ok(s),
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| tracing::debug!(target: "goat", "no loopback alias {INCOMING_FROM} ({e}): incoming peers reach librqbit from 127.0.0.1"));
            TcpStream::connect(at).await
        }
    }
}
