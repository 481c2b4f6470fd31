//! Signing and sending: the holder's coins, the message or PSBTs for the
//! holder's wallet, `--finalize`, the confirmation asked, and the
//! broadcast (commit first).

use super::*;

impl Request {
    /// The goatfile an unsigned inscription serves (`--sign-existing`), its
    /// witnesses proven, and the inscription that holds those bytes (the
    /// new delegate points there: ord follows one level of delegation).
    pub(super) async fn existing(
        &self,
        esplora: &Esplora,
        id: &crate::inscription::InscriptionId,
    ) -> Result<(crate::inscription::InscriptionId, Vec<u8>)> {
        let (_, served) = crate::scan::lookup(esplora, id).await?;
        let bytes = served.decode(crate::goatfile::MAX_BYTES as u64)?;
        crate::goatfile::parse(&bytes)
            .map_err(|e| Error::usage(format!("{id} is not a goatfile ({e}): nothing to sign")).caused_by(e))?;
        Ok((served.delegate.unwrap_or(*id), bytes))
    }

    /// Without a key: the message for the holder's wallet to sign, and its
    /// BIP 322 PSBT for wallets that sign only PSBTs.
    pub(super) fn print_message(
        &self,
        g: &Globals,
        say: &dyn Fn(Said),
        claim: &crate::trust::signature::Claim,
        goatfile: &[u8],
        holder: &HolderAddress,
    ) -> Result<()> {
        let message = claim.message(&crate::hash::sha256(goatfile));
        let dir =
            self.psbt.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let path = dir.join("goatfile-message.psbt");
        let psbt = publish::endorse::message_psbt(claim, goatfile, holder)?;
        crate::store::write_atomic(&path, &psbt.serialize())?;
        say(Said::Message { message, psbt: path.clone() });
        g.note(format!(
            "sign the message above with {} (BIP 322: `ord wallet sign --text`, Sparrow, Electrum; or sign {} with a wallet that signs PSBTs), then run the same command again with --sequence {} --after {} --signature SIG|FILE",
            holder.address,
            path.display(),
            claim.sequence,
            claim.after
        ));
        Ok(())
    }

    /// The holder's spendable coins, each re-read from its transaction's
    /// own bytes (proven to hash to the txid), largest first. Outputs that
    /// may hold an inscription are left alone: an inscription's output
    /// (vout 0 of a reveal) and any output of postage size or less.
    pub(super) async fn coins(&self, esplora: &Esplora, holder: &HolderAddress) -> Result<Vec<Coin>> {
        let spk = holder.address.script_pubkey();
        let listed = esplora.utxos(&holder.address).await?;
        let mut coins = Vec::new();
        let mut skipped = 0;
        for u in listed {
            if !u.status.confirmed && !self.include_unconfirmed {
                skipped += 1;
                continue;
            }
            // Its witnesses decide whether vout 0 holds an inscription, so
            // they must be the block's (a server could blank a reveal's).
            let (tx, _) = esplora.witnessed(&u.txid, Some(u.status.confirmed), Route::Block).await?;
            let Some(out) = tx.output.get(u.vout as usize) else {
                return Err(Error::invalid(format!(
                    "the server lists {}:{} as unspent, but that output does not exist",
                    u.txid, u.vout
                )));
            };
            if out.script_pubkey != spk {
                return Err(Error::invalid(format!(
                    "the server lists {}:{} as the holder's, but it pays another script",
                    u.txid, u.vout
                )));
            }
            let reveals = crate::inscription::envelope::any(&tx);
            if out.value.to_sat() <= publish::POSTAGE || (reveals && u.vout == 0) {
                continue;
            }
            coins.push(Coin { outpoint: OutPoint { txid: u.txid, vout: u.vout }, txout: out.clone() });
        }
        coins.sort_by(|a, b| b.txout.value.cmp(&a.txout.value).then(a.outpoint.cmp(&b.outpoint)));
        if coins.is_empty() {
            let more = if skipped > 0 {
                format!(" ({skipped} unconfirmed: wait for them, or pass --include-unconfirmed)")
            } else {
                String::new()
            };
            return Err(Error::usage(format!(
                "{} has no spendable coins{more}: send some sats to it and run again",
                holder.address
            )));
        }
        Ok(coins)
    }

    pub(super) fn confirm(&self) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage("not asking for confirmation without a terminal: pass --yes to publish"));
        }
        eprint!("broadcast both transactions? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| Error::io("reading the answer", e))?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            Ok(())
        } else {
            Err(Error::new(Kind::Interrupted, "not published: nothing was broadcast"))
        }
    }

    pub(super) fn write_psbts(
        &self,
        g: &Globals,
        say: &dyn Fn(Said),
        plan: &Plan,
        reveal_key: &bitcoin::key::Keypair,
        context: &Context,
    ) -> Result<()> {
        let Some(path) = &self.psbt else { return Err(Error::internal("no PSBT path")) };
        let (commit, reveal) = psbt::make(plan)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let ctx = serde_json::to_value(context).map_err(|e| Error::internal(e.to_string()))?;
        let pending = psbt::pending_path(dir, &plan.commit);
        psbt::Pending::new(plan, reveal_key, ctx).save(&pending)?;
        let rpath = psbt::reveal_path(path);
        crate::store::write_atomic(path, &commit.serialize())?;
        crate::store::write_atomic(&rpath, &reveal.serialize())?;
        say(Said::Psbts { commit: path.clone(), reveal: rpath.clone(), plan: pending });
        g.note(format!(
            "sign both PSBTs with the holder's wallet, then run: goat publish --finalize {} {} (the plan file holds the one-time reveal key: keep it until then)",
            path.display(),
            rpath.display()
        ));
        Ok(())
    }

    pub(super) async fn finalize(&self, g: &Globals, say: &dyn Fn(Said)) -> Result<Broadcast> {
        // The broadcast asks the chain too, while peers go through --proxy.
        self.swarm.check_chain_proxied(g.chain_proxied())?;
        let secp = Secp256k1::new();
        let signed: Vec<bitcoin::psbt::Psbt> = self.finalize.iter().map(|p| psbt::read(p)).collect::<Result<_>>()?;
        let pending_file = find_pending(&self.finalize, &signed)?;
        let pending = psbt::Pending::load(&pending_file)?;
        let (plan, reveal_key) = pending.plan(&secp)?;
        let context: Context = serde_json::from_value(pending.context.clone())
            .map_err(|e| Error::usage(format!("{} is damaged ({e})", pending_file.display())))?;
        let (commit, reveal) = psbt::finalize(&secp, &plan, &reveal_key, &signed)?;
        let signed = [(commit, reveal)];
        let holder = g.holder(&context.address)?;
        let esplora = g.esplora(holder.network)?;
        g.note(format!("fees: {} sats ({} commit + {} reveal)", plan.fee(), plan.commit_fee, plan.reveal_fee));
        self.confirm()?;
        self.broadcast(g, say, esplora, &plan, &signed, &context).await
    }

    /// Broadcast each (commit, reveal) in order; `plan` is the goatfile's
    /// (the last).
    pub(super) async fn broadcast(
        &self,
        g: &Globals,
        say: &dyn Fn(Said),
        esplora: Esplora,
        plan: &Plan,
        pairs: &[(Transaction, Transaction)],
        context: &Context,
    ) -> Result<Broadcast> {
        // Seed first when asked, so the files are reachable the moment the
        // goatfile is.
        let swarm = if self.seed { Some(self.start_seeding(g, context).await?) } else { None };
        let mut sent = Vec::new();
        for (n, (commit, reveal)) in pairs.iter().enumerate() {
            let said = |e: Error, sent: &[bitcoin::Txid]| {
                if sent.is_empty() {
                    e
                } else {
                    let list: Vec<String> = sent.iter().map(|t| t.to_string()).collect();
                    Error::new(
                        e.kind,
                        format!(
                            "{} (already broadcast: {}; they stay valid, publish again once they confirm)",
                            e.message,
                            list.join(", ")
                        ),
                    )
                }
            };
            let ct = esplora.broadcast(commit).await.map_err(|e| said(e, &sent))?;
            sent.push(ct);
            let rt = esplora.broadcast(reveal).await.map_err(|e| said(e, &sent))?;
            sent.push(rt);
            if n + 1 < pairs.len() {
                say(Said::Part(crate::inscription::InscriptionId { txid: rt, index: 0 }));
            }
        }
        // The last pair is the goatfile's, the one `plan` describes.
        let (c, r) = (plan.commit.compute_txid(), plan.reveal.compute_txid());
        for f in self.finalize.iter().filter_map(|p| p.parent()).chain([Path::new(".")]) {
            let _ = std::fs::remove_file(psbt::pending_path(f, &plan.commit));
        }
        say(Said::Published { commit: c, reveal: r, inscription: plan.inscription_id() });
        g.note(format!("broadcast; once the reveal confirms, goat resolve {} finds the goatfile", context.address));
        if swarm.is_none() {
            self.hand_to_daemon(g, context)?;
        }
        Ok(Broadcast { esplora, reveal: r, inscription: plan.inscription_id(), swarm })
    }
}

/// The pending plan for these signed PSBTs: named by the commit's txid,
/// which is the txid of one of them and an input of the other.
fn find_pending(paths: &[PathBuf], signed: &[bitcoin::psbt::Psbt]) -> Result<PathBuf> {
    let mut txids = Vec::new();
    for p in signed {
        txids.push(p.unsigned_tx.compute_txid());
        txids.extend(p.unsigned_tx.input.iter().map(|i| i.previous_output.txid));
    }
    let dirs: Vec<&Path> = paths
        .iter()
        .map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .chain([Path::new(".")])
        .collect();
    for d in &dirs {
        for t in &txids {
            let f = d.join(format!("goat-publish-{}.json", &t.to_string()[..16]));
            if f.exists() {
                return Ok(f);
            }
        }
    }
    Err(Error::usage(
        "no goat-publish-*.json plan for these PSBTs beside them: --finalize needs the plan --psbt wrote (it holds the reveal key)",
    ))
}

/// The server's fee estimate for about an hour.
pub(super) async fn estimate(esplora: &Esplora) -> Result<f64> {
    let m = esplora.fee_estimates().await?;
    let near = m.iter().filter(|(k, _)| **k <= FEE_TARGET_BLOCKS).max_by_key(|(k, _)| **k).map(|(_, v)| *v);
    let rate = near
        .or_else(|| m.values().copied().reduce(f64::max))
        .ok_or_else(|| Error::invalid("the server gave no fee estimates: pass --fee-rate SAT/VB"))?;
    Ok((rate * 100.0).ceil() / 100.0)
}
