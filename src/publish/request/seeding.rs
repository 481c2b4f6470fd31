//! After the broadcast: waiting for the confirmation, seeding the files
//! (`--seed`), or handing them to `goat seed`.

use super::*;

impl Request {
    /// After the broadcast: wait for the confirmation, keep seeding.
    pub(super) async fn after(&self, g: &Globals, b: Broadcast) -> Result<()> {
        let (esplora, r) = (&b.esplora, b.reveal);
        if let Some(secs) = self.wait {
            wait_confirmed(g, esplora, &r, Duration::from_secs(secs)).await?;
        }
        if let Some(s) = b.swarm {
            g.note(format!(
                "seeding on port {}; Ctrl-C to stop",
                s.listen_port().map(|p| p.to_string()).unwrap_or_else(|| "-".into())
            ));
            let confirm = async {
                if self.wait.is_none() {
                    let _ = wait_confirmed(g, esplora, &r, Duration::from_secs(86_400 * 7)).await;
                }
                std::future::pending::<()>().await
            };
            let limit = async {
                match self.seed_for {
                    Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = confirm => {}
                _ = limit => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            s.stop().await;
        }
        Ok(())
    }

    pub(super) async fn start_seeding(&self, g: &Globals, context: &Context) -> Result<Swarm> {
        // The same session fetch and seed start: --tor and --proxy carry
        // the seeder's peer connections too.
        let cfg =
            crate::torrent::SwarmConfig { map_port: !self.swarm.no_upnp, ..self.swarm.config(g.tor_peers()?, None)? };
        let first = context.entries.first().map(|e| e.output.clone()).unwrap_or_default();
        let swarm = Swarm::start(cfg, &first).await?;
        for e in &context.entries {
            let (bytes, magnet) = e.torrent_and_magnet()?;
            let t = swarm.add_published(bytes, &magnet, &self.swarm.peers, &e.output).await?;
            t.wait(Duration::from_millis(200), |_| {}).await.map_err(|err| {
                Error::new(
                    err.kind,
                    format!("{}: the files changed since the torrent was made? ({})", e.name, err.message),
                )
            })?;
            g.note(format!("{}: checked, seeding", e.name));
        }
        Ok(swarm)
    }

    /// Without --seed: record the torrents where `goat seed` picks them up
    /// (at its start, and on every poll of a running daemon).
    pub(super) fn hand_to_daemon(&self, g: &Globals, context: &Context) -> Result<()> {
        let state_dir = match &self.state_dir {
            Some(d) => d.clone(),
            None => crate::store::dirs::default_data_dir()?.join("state"),
        };
        handoff::add(&state_dir, &context.entries)?;
        g.note(format!(
            "handed {} torrent(s) to goat seed (state in {}): a running or the next goat seed serves them",
            context.entries.len(),
            state_dir.display()
        ));
        Ok(())
    }
}

async fn wait_confirmed(g: &Globals, esplora: &Esplora, txid: &bitcoin::Txid, limit: Duration) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = esplora.tx_status(txid).await {
            if s.confirmed {
                g.note(format!(
                    "the goatfile confirmed in block {}",
                    s.block_height.map(|h| h.to_string()).unwrap_or_else(|| "?".into())
                ));
                return Ok(());
            }
        }
        if start.elapsed() >= limit {
            return Err(Error::network(format!(
                "the reveal {txid} did not confirm within {limit:?}: it may still; check later with goat resolve"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
