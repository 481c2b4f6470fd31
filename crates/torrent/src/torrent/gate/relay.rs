//! A connection ready to relay: bytes pumped both ways between the peer
//! and librqbit, decrypted and encrypted as its MSE method says, with a
//! bound on a side that stops reading.

use super::*;

/// A connection ready to relay: the peer's side and librqbit's.
pub(super) struct Link {
    pub(super) peer: Stream,
    pub(super) local: TcpStream,
    pub(super) read: Option<Cipher>,
    pub(super) write: Option<Cipher>,
    /// Already received from the peer (decrypted), for librqbit.
    pub(super) to_local: Vec<u8>,
    /// Counted among the torrent's connections while it lives.
    pub(super) _counted: Counted,
    /// What the peer says it has (`watch.rs`).
    pub(super) watch: Watcher,
}

impl Link {
    pub(super) async fn run(self, shared: &Shared) {
        let Link { peer, local, read, write, to_local, _counted, watch } = self;
        let _ = local.set_nodelay(true);
        relay(peer, local, read, write, &to_local, &[], Some(watch), shared).await
    }
}

/// Relay between a peer and librqbit until either side closes (the peer
/// protocol has no half-close) or the gate is dropped. `to_local` (already
/// received from the peer) goes to librqbit first, then what the peer
/// sends, through `read`; `to_peer` (already received from librqbit) goes
/// to the peer first, then what librqbit sends, through `write`. `watch`
/// reads what the peer sends (its handshake first).
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay(
    peer: Stream,
    local: TcpStream,
    mut read: Option<Cipher>,
    mut write: Option<Cipher>,
    to_local: &[u8],
    to_peer: &[u8],
    mut watch: Option<Watcher>,
    shared: &Shared,
) {
    let mut closed = shared.closed.subscribe();
    let (mut peer_r, mut peer_w) = tokio::io::split(peer);
    let (mut local_r, mut local_w) = local.into_split();
    let down = async {
        if let Some(w) = watch.as_mut() {
            w.feed(to_local);
        }
        stalled(local_w.write_all(to_local)).await?;
        pump(&mut peer_r, &mut local_w, read.as_mut(), watch.as_mut()).await
    };
    let up = async {
        stalled(peer_w.write_all(to_peer)).await?;
        pump(&mut local_r, &mut peer_w, write.as_mut(), None).await
    };
    tokio::select! {
        _ = down => {}
        _ = up => {}
        _ = closed.wait_for(|c| *c) => {}
    }
}

/// A write, failed when the other side has not read for `WRITE_STALL`.
pub(super) async fn stalled(write: impl std::future::Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_STALL, write)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the other side stopped reading"))?
}

pub(super) async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    mut cipher: Option<&mut Cipher>,
    mut watch: Option<&mut Watcher>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(c) = cipher.as_deref_mut() {
            c.apply(&mut buf[..n]);
        }
        if let Some(w) = watch.as_deref_mut() {
            w.feed(&buf[..n]);
        }
        stalled(w.write_all(&buf[..n])).await?;
    }
}

pub(super) fn refused(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}
