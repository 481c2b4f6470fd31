//! What an inscription serves, judged: its body (its own or its
//! delegate's), whether it is a goatfile, and the signature it carries.

use super::*;

/// What one inscription serves: its own fields, or a delegate's (one
/// level, as ord does). Delegated content is made once and shared by every
/// inscription naming it.
#[derive(Debug)]
pub struct Content {
    pub(super) content_type: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) body: Option<Arc<[u8]>>,
    pub(super) size: Option<usize>,
    /// Its own signature (metadata), before any delegating inscription's.
    pub(super) signature: Option<std::result::Result<signature::Carried, String>>,
    /// `classify`'s answer, worked out once.
    pub(super) class: std::sync::OnceLock<(GoatfileState, Option<Arc<[u8]>>)>,
    /// Its own signature checked against the holder, once.
    pub(super) verdict: std::sync::OnceLock<Option<std::result::Result<Signed, String>>>,
}

impl Content {
    /// `ins`'s fields, its body taken from it; a body larger than `keep`
    /// is let go (its size kept).
    pub(super) fn of(ins: &mut Inscription, keep: usize) -> Content {
        let body = ins.body.take();
        let size = body.as_ref().map(Vec::len);
        Content {
            content_type: ins.content_type_str(),
            content_encoding: ins.content_encoding_str(),
            signature: signature_in(ins),
            body: body.filter(|b| b.len() <= keep).map(Arc::from),
            size,
            class: std::sync::OnceLock::new(),
            verdict: std::sync::OnceLock::new(),
        }
    }

    /// Roughly what keeping it costs in memory before it is judged
    /// (`inspect` counts what judging it decodes).
    pub(super) fn weight(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len()) + 256
    }

    pub(super) fn served(
        &self,
        delegate: Option<InscriptionId>,
        signature: Option<std::result::Result<signature::Carried, String>>,
    ) -> Served {
        Served {
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            body: self.body.clone(),
            size: self.size,
            delegate,
            signature: signature.or_else(|| self.signature.clone()),
        }
    }

    /// What `ins`, delegating to `d` (this content), serves: its own
    /// signature first, else the delegate's.
    pub(super) fn serve(&self, ins: &Inscription, d: InscriptionId) -> Served {
        self.served(Some(d), signature_in(ins))
    }

    /// `classify` of what it serves, worked out once however many
    /// inscriptions serve it. Decoding costs `budget` (the bytes one
    /// transaction's contents may decode to): once spent, content not yet
    /// judged is not judged, and says so.
    pub(super) fn class(&self, budget: &mut usize) -> (GoatfileState, Option<Arc<[u8]>>) {
        if let Some(c) = self.class.get() {
            return c.clone();
        }
        let served = self.served(None, None);
        let worth = served.body.is_some() && looks_like_goatfile(&served);
        if worth && *budget < goatfile::MAX_BYTES {
            let yaml = is_yaml(&served);
            let why = format!(
                "not read: this transaction's inscriptions decode to more than {} MiB of goatfile-like content",
                MAX_DECODED_PER_TX >> 20
            );
            return (if yaml { GoatfileState::Invalid(why.into()) } else { GoatfileState::No }, None);
        }
        let mut cost = 0;
        let c = self.class.get_or_init(|| {
            let (state, decoded, spent) = classify(&served);
            cost = spent;
            (state, decoded)
        });
        *budget = budget.saturating_sub(cost);
        c.clone()
    }

    /// The holder's verdict on a signature this content carries itself
    /// (`own`), worked out once; others are checked each time.
    pub(super) fn verdict(
        &self,
        served: &Served,
        holder: &HolderAddress,
        goatfile: &[u8],
        own: bool,
    ) -> Option<std::result::Result<Signed, String>> {
        if own {
            return self.verdict.get_or_init(|| signature_of(served, holder, goatfile)).clone();
        }
        signature_of(served, holder, goatfile)
    }
}

pub(super) fn signature_in(ins: &Inscription) -> Option<std::result::Result<signature::Carried, String>> {
    ins.metadata.as_deref().and_then(signature::read_metadata)
}

/// The holder's signature on the goatfile `served` serves, whose decoded
/// bytes are `goatfile`: None when it carries none, Err(why) when it
/// carries one that does not count.
pub(super) fn signature_of(
    served: &Served,
    holder: &HolderAddress,
    goatfile: &[u8],
) -> Option<std::result::Result<Signed, String>> {
    Some(match served.signature.as_ref()? {
        Ok(c) => signature::verify(c, holder, goatfile),
        Err(why) => Err(why.clone()),
    })
}

/// Whether `served` could be a goatfile: YAML, or text with no other type
/// (JSON is YAML), and a body.
pub(super) fn looks_like_goatfile(served: &Served) -> bool {
    let ct = served.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
    let texty = ct.is_empty() || ct.starts_with("text/plain") || ct.contains("json");
    (is_yaml(served) || texty) && served.size.is_some()
}

/// Its content type says YAML: a goatfile that fails is reported, not
/// passed over.
pub(super) fn is_yaml(served: &Served) -> bool {
    served.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("yaml"))
}

/// Does this content look like a goatfile, and does it parse? With the
/// decoded bytes of one that does (its signature covers them), and the
/// bytes decoded to find out.
pub(super) fn classify(served: &Served) -> (GoatfileState, Option<Arc<[u8]>>, usize) {
    let yaml = is_yaml(served);
    if !looks_like_goatfile(served) {
        return (GoatfileState::No, None, 0);
    }
    if served.body.is_none() {
        // Let go for its size: it decodes to more than a goatfile may hold.
        let why = format!(
            "its body is {} bytes, too large to decode to a goatfile of at most {} bytes",
            served.size.unwrap_or_default(),
            goatfile::MAX_BYTES
        );
        return (if yaml { GoatfileState::Invalid(why.into()) } else { GoatfileState::No }, None, 0);
    }
    let decoded = served.decode(goatfile::MAX_BYTES as u64);
    let decoded = match decoded {
        Ok(d) => d,
        // stopped at the cap, or part-way: count the cap
        Err(e) if yaml => return (GoatfileState::Invalid(e.message.into()), None, goatfile::MAX_BYTES),
        Err(_) => return (GoatfileState::No, None, goatfile::MAX_BYTES),
    };
    let cost = decoded.len();
    match goatfile::parse(&decoded) {
        Ok(g) => (GoatfileState::Valid(Arc::new(g)), Some(Arc::from(decoded)), cost),
        Err(e) if yaml => (GoatfileState::Invalid(e.0.into()), None, cost),
        Err(_) => (GoatfileState::No, None, cost),
    }
}
