//! Outgoing peers: the SOCKS5 server librqbit connects through (RFC
//! 1928/1929, CONNECT only), the user's own proxy behind it, and the
//! connection opened in the mode's order (MSE or plaintext first, the
//! fallback inside the gate), over TCP, or over uTP when TCP is refused or
//! dropped unanswered.

use super::*;

/// The user's own SOCKS5 proxy, which the gate's connections go through.
#[derive(Clone)]
pub(super) struct Upstream {
    pub(super) at: String,
    pub(super) auth: Option<(String, String)>,
}

impl Upstream {
    pub(super) fn parse(url: &str) -> Result<Upstream> {
        let u = url::Url::parse(url).map_err(|e| Error::usage(format!("--proxy '{}': {e}", crate::text::line(url))))?;
        let host =
            u.host_str().ok_or_else(|| Error::usage(format!("--proxy '{}' names no host", crate::text::line(url))))?;
        let port =
            u.port().ok_or_else(|| Error::usage(format!("--proxy '{}' names no port", crate::text::line(url))))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let at = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        // As librqbit did: a password means RFC 1929 (a user name alone,
        // as in Tor's stream isolation, does not).
        let dec = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let auth = u.password().map(|p| (dec(u.username()), dec(p)));
        if auth.as_ref().is_some_and(|(user, _)| user.is_empty()) {
            return Err(Error::usage(format!(
                "--proxy '{}': a password needs a user name (socks5://USER:PASS@HOST:PORT)",
                crate::text::line(url)
            )));
        }
        Ok(Upstream { at, auth })
    }
}

/// Where a SOCKS client asked to go.
#[derive(Clone)]
pub(super) enum Target {
    Addr(SocketAddr),
    Name(String, u16),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(h, p) => write!(f, "{}:{p}", crate::text::line(h)),
        }
    }
}

pub(super) async fn serve_socks(l: TcpListener, shared: Arc<Shared>, password: String) {
    loop {
        let Ok((sock, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Taken before anything is read and given back once the client
        // is authenticated: a local process that connects without the
        // password holds at most a slot, for `FIRST_BYTES`.
        let Ok(permit) = shared.pending_socks.clone().try_acquire_owned() else {
            continue;
        };
        let (shared, password) = (shared.clone(), password.clone());
        tokio::spawn(async move {
            if let Err(e) = outgoing(sock, &shared, &password, permit).await {
                tracing::debug!(target: "goat", "outgoing peer connection: {e}");
            }
        });
    }
}

/// RFC 1928 with RFC 1929's password: the client's greeting, its
/// password, its CONNECT request.
pub(super) async fn socks_request(s: &mut TcpStream, password: &str) -> std::io::Result<Target> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut methods).await?;
    if head[0] != 5 || !methods.contains(&2) {
        s.write_all(&[5, 0xff]).await?;
        return Err(refused("a SOCKS client without the gate's password"));
    }
    s.write_all(&[5, 2]).await?;
    let mut ver = [0u8; 2];
    s.read_exact(&mut ver).await?;
    let mut user = vec![0u8; usize::from(ver[1])];
    s.read_exact(&mut user).await?;
    let mut plen = [0u8; 1];
    s.read_exact(&mut plen).await?;
    let mut pass = vec![0u8; usize::from(plen[0])];
    s.read_exact(&mut pass).await?;
    // Constant-time enough: the length is public, the bytes are compared whole.
    let ok = pass.len() == password.len()
        && pass.iter().zip(password.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !ok {
        s.write_all(&[1, 1]).await?;
        return Err(refused("a SOCKS client with the wrong password"));
    }
    s.write_all(&[1, 0]).await?;
    let mut req = [0u8; 4];
    s.read_exact(&mut req).await?;
    if req[0] != 5 || req[1] != 1 {
        s.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Err(refused("a SOCKS request other than CONNECT"));
    }
    let target = match req[3] {
        1 => {
            let mut a = [0u8; 6];
            s.read_exact(&mut a).await?;
            Target::Addr(SocketAddr::new(IpAddr::from([a[0], a[1], a[2], a[3]]), u16::from_be_bytes([a[4], a[5]])))
        }
        4 => {
            let mut a = [0u8; 18];
            s.read_exact(&mut a).await?;
            let ip: [u8; 16] = a[..16].try_into().expect("16 bytes");
            Target::Addr(SocketAddr::new(IpAddr::from(ip), u16::from_be_bytes([a[16], a[17]])))
        }
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0]) + 2];
            s.read_exact(&mut name).await?;
            let port = u16::from_be_bytes([name[name.len() - 2], name[name.len() - 1]]);
            name.truncate(name.len() - 2);
            Target::Name(String::from_utf8(name).map_err(|_| refused("a SOCKS host name that is not UTF-8"))?, port)
        }
        _ => return Err(refused("a SOCKS address of unknown type")),
    };
    Ok(target)
}

/// A new connection to the target, directly or through the user's proxy.
pub(super) async fn dial(shared: &Shared, target: &Target) -> std::io::Result<TcpStream> {
    let fut = async {
        match (&shared.upstream, target) {
            (None, Target::Addr(a)) => TcpStream::connect(a).await,
            (None, Target::Name(h, p)) => TcpStream::connect((h.as_str(), *p)).await,
            (Some(up), t) => {
                let to = match t {
                    Target::Addr(a) => (a.ip().to_string(), a.port()),
                    Target::Name(h, p) => (h.clone(), *p),
                };
                let s = match &up.auth {
                    Some((u, p)) => {
                        tokio_socks::tcp::Socks5Stream::connect_with_password(up.at.as_str(), to, u, p).await
                    }
                    None => tokio_socks::tcp::Socks5Stream::connect(up.at.as_str(), to).await,
                };
                s.map(|s| s.into_inner()).map_err(|e| std::io::Error::other(format!("through the proxy: {e}")))
            }
        }
    };
    tokio::time::timeout(CONNECT, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Addresses no peer has: unspecified, multicast, broadcast, link-local
/// (where cloud metadata services answer). librqbit dials whatever
/// address and port a peer's extended handshake names, so these are
/// refused here. Loopback and private networks stay allowed: a client on
/// the same machine or the LAN is a real peer.
pub(super) fn unroutable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_link_local(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

pub(super) async fn outgoing(
    mut client: TcpStream,
    shared: &Shared,
    password: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> std::io::Result<()> {
    let target = tokio::time::timeout(FIRST_BYTES, socks_request(&mut client, password))
        .await
        .map_err(|_| refused("a SOCKS client too slow"))??;
    drop(permit);
    if let Target::Addr(a) = &target {
        let why = if unroutable(a.ip()) {
            Some("not an address a peer can have")
        } else if a.ip() == IpAddr::from(INCOMING_FROM) {
            Some("librqbit redialling an incoming peer through its loopback alias")
        } else {
            None
        };
        if let Some(why) = why {
            let _ = client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return Err(refused(format!("{a}: {why}")));
        }
    }
    // TCP refused: uTP is tried, but only once librqbit's first bytes show
    // a BitTorrent connection (a tracker named by its address must never
    // be reached over uTP), so the SOCKS answer says yes first.
    let tcp = match dial_via(shared, &target, Via::Tcp).await {
        Ok(p) => Ok(p),
        Err(e) if utp_to(shared, &target) => Err(e),
        Err(e) => {
            let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return Err(std::io::Error::new(e.kind(), format!("{target}: {e}")));
        }
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;

    // librqbit writes its BitTorrent handshake first; anything else (an
    // HTTP tracker request) is relayed as it is, over TCP only.
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(HANDSHAKE, client.read(&mut first))
        .await
        .map_err(|_| refused("librqbit sent nothing"))??;
    if n == 0 {
        return Ok(());
    }
    let not_bittorrent = |tcp: std::io::Result<Stream>| {
        tcp.map_err(|_| refused(format!("{target}: TCP refused, and not a BitTorrent connection to try over uTP")))
    };
    if first[0] != PSTR[0] {
        relay(not_bittorrent(tcp)?, client, None, None, &[], &first, None, None, shared).await;
        return Ok(());
    }
    let mut handshake = vec![0u8; HANDSHAKE_LEN];
    handshake[0] = first[0];
    tokio::time::timeout(HANDSHAKE, client.read_exact(&mut handshake[1..]))
        .await
        .map_err(|_| refused("librqbit's handshake is slow"))??;
    if &handshake[..20] != PSTR {
        relay(not_bittorrent(tcp)?, client, None, None, &[], &handshake, None, None, shared).await;
        return Ok(());
    }
    let info_hash = info_hash_of(&handshake);
    // After TCP failed with `e`: the same handshake over uTP.
    let (to, hs) = (&target, &handshake);
    let over_utp = |e: std::io::Error| async move {
        let peer = dial_via(shared, to, Via::Utp)
            .await
            .map_err(|u| std::io::Error::new(e.kind(), format!("{e}; over uTP: {u}")))?;
        open(shared, to, peer, Via::Utp, hs).await.map(|o| (o, Via::Utp))
    };
    let attempt = async {
        match tcp {
            Err(e) => over_utp(e).await,
            Ok(peer) => match open(shared, &target, peer, Via::Tcp, &handshake).await {
                // Dropped unanswered over TCP: a peer that takes only uTP
                // does that.
                Err(e) if utp_to(shared, &target) => over_utp(e).await,
                other => other.map(|o| (o, Via::Tcp)),
            },
        }
    };
    let (link, via) = match tokio::time::timeout(HANDSHAKE, attempt).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(std::io::Error::new(e.kind(), format!("{target}: {e}"))),
        Err(_) => return Err(refused(format!("{target}: handshake over {HANDSHAKE:?}"))),
    };
    let (peer, read, write, method, from_peer) = link;
    let counted = Counted::new(&shared.counts, info_hash, method, via == Via::Utp);
    let watch = shared.watch(info_hash);
    Link {
        peer,
        local: client,
        read,
        write,
        to_local: from_peer,
        _counted: counted,
        watch,
        info_hash,
        handshake_sent: true,
    }
    .run(shared)
    .await;
    if let (Via::Utp, Target::Addr(a)) = (via, &target) {
        shared.utp_closed(*a);
    }
    Ok(())
}

/// How a connection to a peer is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Tcp,
    Utp,
}

/// Whether `target` may be tried over uTP: the gate has a uTP socket (so
/// no proxy is in use) and the target is an address (host names are
/// trackers).
pub(super) fn utp_to(shared: &Shared, target: &Target) -> bool {
    shared.utp.is_some() && matches!(target, Target::Addr(_))
}

/// A new connection to `target` over `via`.
pub(super) async fn dial_via(shared: &Shared, target: &Target, via: Via) -> std::io::Result<Stream> {
    match (via, &shared.utp, target) {
        (Via::Tcp, _, _) => {
            let s = dial(shared, target).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        (Via::Utp, Some(u), Target::Addr(a)) => {
            // A uTP stream to this peer that has just ended may still be
            // open on its side (its FIN in flight): libtorrent refuses a
            // second connection with the same peer id ("duplicate_peer_id"),
            // and librqbit then waits 12 s before trying the peer again.
            // librqbit closes its metadata connection and opens the
            // torrent's at once, so this happens on every uTP-only peer.
            // Measured against libtorrent 2.0.8: 1 s was not enough, 3 s
            // was (a uTP-only peer's 8 MiB in 3.1 s instead of 12.6).
            if let Some(wait) = shared.utp_settle(*a) {
                tokio::time::sleep(wait).await;
            }
            let s = tokio::time::timeout(UTP_CONNECT, u.connect(*a))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "uTP connect timed out"))?
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, format!("{e:#}")))?;
            Ok(Box::new(s))
        }
        (Via::Utp, _, _) => Err(refused("no uTP to this target")),
    }
}

/// Open a BitTorrent connection to `target` in the mode's order, redialling
/// over `via` for the second try.
pub(super) async fn open(
    shared: &Shared,
    target: &Target,
    peer: Stream,
    via: Via,
    handshake: &[u8],
) -> std::io::Result<Opened> {
    match shared.mode {
        Encryption::Require => encrypted(shared, peer, handshake).await,
        // Behind a proxy (Tor: slow circuits) a slow answer is not a
        // refusal: MSE gets the whole handshake time and no plaintext retry
        // follows it; only a peer that drops MSE gets plaintext.
        Encryption::PreferEncrypted if shared.upstream.is_some() => match encrypted(shared, peer, handshake).await {
            Ok(o) => Ok(o),
            Err(_) => plaintext(dial_via(shared, target, via).await?, handshake).await,
        },
        Encryption::PreferEncrypted => match tokio::time::timeout(ATTEMPT, encrypted(shared, peer, handshake)).await {
            Ok(Ok(o)) => Ok(o),
            _ => plaintext(dial_via(shared, target, via).await?, handshake).await,
        },
        Encryption::PreferPlaintext => match tokio::time::timeout(ATTEMPT, plaintext(peer, handshake)).await {
            Ok(Ok(o)) => Ok(o),
            _ => encrypted(shared, dial_via(shared, target, via).await?, handshake).await,
        },
    }
}

pub(super) async fn encrypted(shared: &Shared, peer: Stream, handshake: &[u8]) -> std::io::Result<Opened> {
    let info_hash = info_hash_of(handshake);
    let e = mse::initiate(peer, info_hash, shared.mode.provide(), handshake).await?;
    Ok((e.stream, e.read, e.write, Some(e.method), e.pending))
}

/// Send the handshake in the clear and wait for the peer's first bytes:
/// a peer that requires encryption closes instead.
pub(super) async fn plaintext(mut peer: Stream, handshake: &[u8]) -> std::io::Result<Opened> {
    peer.write_all(handshake).await?;
    let mut buf = vec![0u8; 4096];
    let n = peer.read(&mut buf).await?;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the peer closed on a plaintext handshake"));
    }
    buf.truncate(n);
    Ok((peer, None, None, None, buf))
}
