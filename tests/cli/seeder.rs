//! BitTorrent peers for tests: a librqbit seeder inside the test process,
//! and payload builders. Everything listens on 127.0.0.1 only.

use librqbit::{
    AddTorrent, AddTorrentOptions, CreateTorrentOptions, ListenerMode, ListenerOptions, Session, SessionOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Write files (relative path, size) with deterministic pseudo-random bytes.
pub fn make_payload(dir: &Path, files: &[(&str, usize)]) {
    for (i, (name, size)) in files.iter().enumerate() {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut x: u64 = 0x9e3779b97f4a7c15 ^ (i as u64 + 1);
        let data: Vec<u8> = (0..*size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(p, data).unwrap();
    }
}

/// A torrent made from a folder: its bytes, info-hash and magnet.
pub struct Made {
    pub bytes: Vec<u8>,
    pub info_hash: String,
    pub name: String,
}

impl Made {
    pub fn magnet_with_peer(&self, port: u16) -> String {
        format!("magnet:?xt=urn:btih:{}&dn={}&x.pe=127.0.0.1:{port}", self.info_hash, self.name)
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Create a torrent of `path` (file or folder) with `piece_length`.
pub fn make_torrent(path: &Path, piece_length: u32, trackers: Vec<String>) -> Made {
    let rt = runtime();
    rt.block_on(async {
        let spawner = librqbit::spawn_utils::BlockingSpawner::new(2);
        let r = librqbit::create_torrent(
            path,
            CreateTorrentOptions { name: None, trackers, piece_length: Some(piece_length) },
            &spawner,
        )
        .await
        .unwrap();
        Made {
            bytes: r.as_bytes().unwrap().to_vec(),
            info_hash: r.info_hash().as_string(),
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
        }
    })
}

/// A librqbit session seeding one torrent from `data_dir` on 127.0.0.1.
pub struct LibrqbitSeeder {
    rt: Option<tokio::runtime::Runtime>,
    session: Arc<Session>,
    handle: Arc<librqbit::ManagedTorrent>,
    pub port: u16,
}

impl LibrqbitSeeder {
    /// `data_dir` is the folder holding the torrent's files (for a
    /// multi-file torrent, the files themselves are under it).
    pub fn start(torrent: &Made, data_dir: &Path, upload_bps: Option<u32>) -> LibrqbitSeeder {
        let rt = runtime();
        let (session, handle, port) = rt.block_on(async {
            // A port found free can be taken by another test's process
            // before the session binds it: then pick another.
            let mut attempt = 0;
            let session = loop {
                attempt += 1;
                let port = crate::harness::free_port();
                let made = Session::new_with_opts(
                    PathBuf::from(data_dir),
                    SessionOptions {
                        dht: None,
                        disable_local_service_discovery: true,
                        // An explicit port, announced as is (on loopback librqbit
                        // would otherwise announce 4240 to trackers).
                        listen: Some(ListenerOptions {
                            mode: ListenerMode::TcpOnly,
                            listen_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                            announce_port: Some(port),
                            ipv4_only: true,
                            ..Default::default()
                        }),
                        ratelimits: librqbit::limits::LimitsConfig {
                            upload_bps: upload_bps.and_then(std::num::NonZeroU32::new),
                            download_bps: None,
                        },
                        ..Default::default()
                    },
                )
                .await;
                match made {
                    Ok(s) => break s,
                    Err(e) if attempt < 5 && format!("{e:#}").contains("Address already in use") => continue,
                    Err(e) => panic!("librqbit seeder: {e:#}"),
                }
            };
            let h = session
                .add_torrent(
                    AddTorrent::from_bytes(torrent.bytes.clone()),
                    Some(AddTorrentOptions {
                        overwrite: true,
                        output_folder: Some(data_dir.to_string_lossy().into_owned()),
                        disable_trackers: false,
                        ..Default::default()
                    }),
                )
                .await
                .unwrap()
                .into_handle()
                .unwrap();
            tokio::time::timeout(Duration::from_secs(60), h.wait_until_completed()).await.unwrap().unwrap();
            let port = session.listen_addr().unwrap().port();
            (session, h, port)
        });
        LibrqbitSeeder { rt: Some(rt), session, handle, port }
    }

    /// Bytes this seeder has sent.
    pub fn uploaded(&self) -> u64 {
        self.handle.stats().uploaded_bytes
    }
}

impl Drop for LibrqbitSeeder {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let s = self.session.clone();
            rt.block_on(async move {
                let _ = tokio::time::timeout(Duration::from_secs(3), s.stop()).await;
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
