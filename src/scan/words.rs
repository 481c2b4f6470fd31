//! The chosen goatfile described for people: whose word it is and what
//! was proven of it (`goat resolve`, `goat fetch`).

use super::Chosen;

/// How the chosen goatfile counts as the holder's, in words.
pub fn endorsement_words(c: &Chosen) -> String {
    match &c.endorsement {
        Some(e) => match &e.signed {
            Some(s) => format!("{}, sequence {}", e.kind.describe(), s.sequence),
            None => e.kind.describe().to_string(),
        },
        None => "NOT endorsed by the holder (--trust-any)".into(),
    }
}

/// What was proven about its block, in words (empty when unconfirmed).
pub fn proof_words(c: &Chosen) -> String {
    use crate::esplora::witness::WitnessProof;
    let block = match &c.proof.goatfile {
        Some(p) if p.agreed.is_empty() => format!("; block proven by {}", p.server),
        Some(p) => format!("; block proven by {}, same block at {} more server(s)", p.server, p.agreed.len()),
        None => String::new(),
    };
    let w = &c.proof.witnesses;
    let by_block = w.iter().filter(|w| matches!(w.proof, WitnessProof::Block { .. })).count();
    let witnesses = match (w.len(), by_block) {
        (0, _) => String::new(),
        (1, 1) => "; witnesses proven by the block's commitment".into(),
        (1, 0) => "; witnesses proven by Bitcoin Core's script check".into(),
        (n, b) if b == n => format!("; witnesses of {n} transactions proven by their blocks' commitments"),
        (n, 0) => format!("; witnesses of {n} transactions proven by Bitcoin Core's script check"),
        (n, b) => format!("; witnesses of {n} transactions proven ({b} by their blocks, {} by script check)", n - b),
    };
    block + &witnesses
}
