//! Bitcoin addresses and the network they belong to.
//!
//! An address of the wrong network for the chosen endpoint is a user error to
//! report, never a silent empty history, so the network is settled here before
//! any request is made.

use crate::error::{Error, Result};
use bitcoin::{address::NetworkUnchecked, Address, Network, ScriptBuf};
use std::str::FromStr;

/// An address the user gave, checked against a network.
#[derive(Debug, Clone)]
pub struct HolderAddress {
    /// The address, valid for `network`.
    pub address: Address,
    /// The network it belongs to: the one asked for, else the one its prefix implies.
    pub network: Network,
}

impl HolderAddress {
    /// The output script that pays this address.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }
}

/// Parse a network name as users write it.
pub fn parse_network(name: &str) -> Result<Network> {
    match name.to_ascii_lowercase().as_str() {
        "bitcoin" | "mainnet" | "main" => Ok(Network::Bitcoin),
        "testnet" | "testnet3" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => {
            Err(Error::usage(format!("unknown network '{other}': use bitcoin, testnet, testnet4, signet or regtest")))
        }
    }
}

/// Parse `text` as an address. With `network` given, the address must belong
/// to it; without, the network is inferred from the prefix (testnet prefixes
/// are shared by testnet, testnet4 and signet: testnet is assumed).
pub fn parse_address(text: &str, network: Option<Network>) -> Result<HolderAddress> {
    let text = text.trim();
    let unchecked = Address::<NetworkUnchecked>::from_str(text).map_err(|e| {
        Error::usage(format!(
            "'{}' is not a Bitcoin address ({e}): pass the holder's address, e.g. bc1p…",
            crate::text::line(text)
        ))
    })?;
    match network {
        Some(net) => {
            if unchecked.is_valid_for_network(net) {
                Ok(HolderAddress { address: unchecked.assume_checked(), network: net })
            } else {
                let inferred = infer_network(&unchecked);
                Err(Error::usage(format!(
                    "address {text} belongs to {}, not {}: drop --network or pass --network {}",
                    network_name(inferred),
                    network_name(net),
                    network_name(inferred)
                )))
            }
        }
        None => {
            let net = infer_network(&unchecked);
            Ok(HolderAddress { address: unchecked.assume_checked(), network: net })
        }
    }
}

fn infer_network(addr: &Address<NetworkUnchecked>) -> Network {
    for net in [Network::Bitcoin, Network::Regtest, Network::Testnet] {
        if addr.is_valid_for_network(net) {
            return net;
        }
    }
    Network::Testnet
}

/// A network's name as goat writes it (one [`parse_network`] reads).
pub fn network_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bitcoin",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// Default public Esplora endpoints for a network, tried in order. Three
/// independent operators on mainnet (Blockstream, mempool.space, Emzy's
/// mempool instance): a proof needs another server to name its block and
/// the history another server to list it (docs/trust.md), so one of them
/// down or rate limiting does not stop a resolve.
pub fn default_endpoints(network: Network) -> Vec<String> {
    let v: &[&str] = match network {
        Network::Bitcoin => {
            &["https://blockstream.info/api", "https://mempool.space/api", "https://mempool.emzy.de/api"]
        }
        Network::Testnet => &[
            "https://blockstream.info/testnet/api",
            "https://mempool.space/testnet/api",
            "https://mempool.emzy.de/testnet/api",
        ],
        Network::Testnet4 => &["https://mempool.space/testnet4/api"],
        Network::Signet => &["https://mempool.space/signet/api"],
        _ => &[],
    };
    v.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_and_checks_network() {
        let a = parse_address("bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk", None).unwrap();
        assert_eq!(a.network, Network::Regtest);
        let e = parse_address("bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk", Some(Network::Bitcoin)).unwrap_err();
        assert!(e.message.contains("belongs to regtest"), "{}", e.message);
        let e = parse_address("not-an-address", None).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Usage);
    }
}
