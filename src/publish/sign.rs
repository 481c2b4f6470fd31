//! Keys and signatures for a `Plan`: the holder's key from a key file (for
//! automation), the one-time reveal key, BIP 341 signing.
//!
//! The holder key never comes from the command line (it would sit in the
//! shell history and in `ps`), and a key file others can read is refused.

use super::Plan;
use crate::error::{Error, Result};
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot::{LeafVersion, TapLeafHash};
use bitcoin::{Address, Network, NetworkKind, PrivateKey, Transaction, TxOut, Witness};
use std::path::Path;

/// The holder's key and the BIP 86 key-path address it controls (`tr(KEY)`).
pub struct HolderKey {
    pub keypair: Keypair,
    pub address: Address,
}

/// A file readable by group or others is refused: it holds money.
pub fn check_private(path: &Path, what: &str) -> Result<()> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(format!("reading {what} {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::usage(format!(
                "{what} {} can be read by other users (mode {mode:o}): run chmod 600 {} and try again",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = md;
    Ok(())
}

/// Read a WIF key file for `network` (None: mainnet for a mainnet key; a
/// test-network key then needs the network named).
pub fn load_key_file(secp: &Secp256k1<All>, path: &Path, network: Option<Network>) -> Result<HolderKey> {
    check_private(path, "key file")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading key file {}", path.display()), e))?;
    let key = PrivateKey::from_wif(text.trim()).map_err(|_| {
        Error::usage(format!(
            "key file {} does not hold a WIF private key (one line, e.g. from dumpprivkey)",
            path.display()
        ))
    })?;
    let network = match (network, key.network) {
        (Some(n), _) => n,
        (None, NetworkKind::Main) => Network::Bitcoin,
        (None, NetworkKind::Test) => {
            return Err(Error::usage(format!(
                "key file {} holds a test-network key: say which network with --network (testnet, testnet4, signet, regtest) or --address",
                path.display()
            )))
        }
    };
    if key.network != NetworkKind::from(network) {
        return Err(Error::usage(format!(
            "key file {} holds a {} key, but the address is on {network}: use the key for that network",
            path.display(),
            if key.network == NetworkKind::Main { "mainnet" } else { "test-network" }
        )));
    }
    let keypair = Keypair::from_secret_key(secp, &key.inner);
    let (xonly, _) = keypair.x_only_public_key();
    Ok(HolderKey { keypair, address: Address::p2tr(secp, xonly, None, network) })
}

/// A fresh one-time key from the operating system's randomness.
pub fn one_time_key(secp: &Secp256k1<All>) -> Result<Keypair> {
    let mut sk = [0u8; 32];
    loop {
        getrandom::fill(&mut sk).map_err(|e| Error::internal(format!("no randomness from the OS: {e}")))?;
        if let Ok(kp) = Keypair::from_seckey_slice(secp, &sk) {
            return Ok(kp);
        }
    }
}

/// BIP 340's auxiliary randomness (it guards the nonce against side channels).
fn aux() -> Result<[u8; 32]> {
    let mut a = [0u8; 32];
    getrandom::fill(&mut a).map_err(|e| Error::internal(format!("no randomness from the OS: {e}")))?;
    Ok(a)
}

/// Sign input `i` (a BIP 86 key-path output of `kp`) over all inputs and
/// outputs (SIGHASH_DEFAULT).
pub fn sign_key_path(
    secp: &Secp256k1<All>,
    tx: &mut Transaction,
    i: usize,
    prevouts: &[TxOut],
    kp: &Keypair,
) -> Result<()> {
    let sighash = SighashCache::new(&*tx)
        .taproot_key_spend_signature_hash(i, &Prevouts::All(prevouts), TapSighashType::Default)
        .map_err(|e| Error::internal(format!("sighash: {e}")))?;
    let tweaked = kp.tap_tweak(secp, None);
    let signature =
        secp.sign_schnorr_with_aux_rand(&Message::from_digest(sighash.to_byte_array()), &tweaked.to_keypair(), &aux()?);
    let sig = bitcoin::taproot::Signature { signature, sighash_type: TapSighashType::Default };
    tx.input[i].witness = Witness::p2tr_key_spend(&sig);
    Ok(())
}

/// Sign the reveal's envelope input (input 0) through its leaf.
pub fn sign_reveal_leaf(secp: &Secp256k1<All>, plan: &Plan, reveal: &mut Transaction, kp: &Keypair) -> Result<()> {
    if kp.x_only_public_key().0 != plan.reveal_key {
        return Err(Error::usage("the reveal key file does not belong to this inscription"));
    }
    let leaf = TapLeafHash::from_script(&plan.script, LeafVersion::TapScript);
    let sighash = SighashCache::new(&*reveal)
        .taproot_script_spend_signature_hash(0, &Prevouts::All(&plan.reveal_prevouts), leaf, TapSighashType::Default)
        .map_err(|e| Error::internal(format!("sighash: {e}")))?;
    let sig = secp.sign_schnorr_with_aux_rand(&Message::from_digest(sighash.to_byte_array()), kp, &aux()?);
    let mut w = Witness::new();
    w.push(sig.as_ref());
    w.push(plan.script.as_bytes());
    w.push(plan.control_block.serialize());
    reveal.input[0].witness = w;
    Ok(())
}

/// Both transactions signed with the holder's key and the one-time key.
pub fn sign_plan(
    secp: &Secp256k1<All>,
    plan: &Plan,
    holder: &Keypair,
    reveal_key: &Keypair,
) -> Result<(Transaction, Transaction)> {
    let mut commit = plan.commit.clone();
    for i in 0..commit.input.len() {
        sign_key_path(secp, &mut commit, i, &plan.commit_prevouts, holder)?;
    }
    let mut reveal = plan.reveal.clone();
    sign_key_path(secp, &mut reveal, 1, &plan.reveal_prevouts, holder)?;
    sign_reveal_leaf(secp, plan, &mut reveal, reveal_key)?;
    check_signed(plan, &commit, &reveal)?;
    Ok((commit, reveal))
}

/// Every input of both transactions through Bitcoin Core's interpreter.
pub fn check_signed(plan: &Plan, commit: &Transaction, reveal: &Transaction) -> Result<()> {
    crate::consensus::verify_scripts(commit, &plan.commit_prevouts).map_err(|e| {
        Error::invalid(format!("the signed commit is not valid ({e}): nothing was broadcast")).caused_by(e)
    })?;
    crate::consensus::verify_scripts(reveal, &plan.reveal_prevouts).map_err(|e| {
        Error::invalid(format!("the signed reveal is not valid ({e}): nothing was broadcast")).caused_by(e)
    })?;
    Ok(())
}
