//! Stage 3: inscription content → goatfile.
//!
//! The format is specified in docs/goatfile.md. Parsing treats the content as
//! hostile: size and structure are capped before serde sees it, and every
//! failure is a message naming the problem, never a panic.

pub mod magnet;

pub use magnet::{InfoHash, Magnet};

use crate::inscription::InscriptionId;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Largest goatfile accepted (after content decoding).
pub const MAX_BYTES: usize = 256 * 1024;
/// Deepest YAML nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most YAML nodes accepted (after alias expansion).
pub const MAX_NODES: usize = 20_000;
/// Most entries in one goatfile.
pub const MAX_ENTRIES: usize = 4096;
/// Schema versions this goat understands.
pub const SUPPORTED_VERSIONS: &[u64] = &[1];

/// A goatfile, parsed and checked ([`parse`]): what to fetch, as named entries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Goatfile {
    /// Schema version; 0 for the loose early form (names → magnets).
    pub version: u64,
    /// `name:`, for people (None when absent, and always in the loose form).
    pub name: Option<String>,
    /// `description:`, for people (None when absent, and always in the loose form).
    pub description: Option<String>,
    /// The entries (at least one, names unique): in the order written, or sorted by
    /// name in the loose form.
    pub entries: Vec<Entry>,
}

/// One entry: a named folder of files and where they come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Unique within the goatfile; also the entry's folder name on disk.
    pub name: String,
    /// Where the entry's files come from: a torrent, or the chain.
    pub source: Source,
    /// Files expected from this entry (optional for magnets).
    pub files: Vec<FileSpec>,
    /// Where a magnet entry's torrent metadata can be had without a peer
    /// (docs/goatfile.md, `metadata:`), tried in order before peers.
    pub metadata: Vec<MetaSource>,
    /// The Hugging Face repository these files are, at one commit
    /// (docs/goatfile.md, `hf:`): `goat fetch --layout hf` lays them into
    /// the hub cache under it. Magnet entries only.
    pub hf: Option<HfRepo>,
}

/// A Hugging Face model repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfRepo {
    /// `ORG/NAME` (or `NAME`).
    pub repo: String,
    /// The commit (40 lowercase hex digits).
    pub revision: String,
}

impl HfRepo {
    fn check(&self) -> Result<(), String> {
        check_repo_id(&self.repo)
            .map_err(|why| format!("hf: repository id '{}' {why}", crate::text::line(&self.repo)))?;
        if !(self.revision.len() == 40 && self.revision.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))) {
            return Err(format!(
                "hf: revision '{}' is not a commit (40 lowercase hex digits)",
                crate::text::line(&self.revision)
            ));
        }
        Ok(())
    }
}

/// A Hugging Face repository id as the hub allows it (`huggingface_hub`'s
/// `validate_repo_id`): `NAME` or `ORG/NAME`, letters, digits, `-`, `_`
/// and `.`, no `--` or `..`, at most 96 characters. It names a folder in
/// the hub cache, so nothing else passes.
pub fn check_repo_id(id: &str) -> Result<(), String> {
    let parts: Vec<&str> = id.split('/').collect();
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
    };
    if id.len() > 96 || parts.len() > 2 || !parts.iter().all(|p| ok_part(p)) {
        return Err("is not NAME or ORG/NAME (letters, digits, '-', '_', '.'; at most 96 characters)".into());
    }
    if id.contains("--") || id.contains("..") {
        return Err("contains '--' or '..', which the hub refuses".into());
    }
    Ok(())
}

/// A place a torrent's metadata (the `.torrent`, or just its bencoded
/// info dictionary) can be read from. Untrusted wherever it is: goat
/// uses it only when its info dictionary hashes to the magnet's
/// info-hash (`torrent::known`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaSource {
    /// That inscription's decoded content.
    Inscription(InscriptionId),
    /// Inscription `n` of the transaction that revealed the goatfile
    /// itself (`i<n>`): a goatfile and its torrents inscribed together
    /// cannot name their own txid, which hashes the goatfile.
    Beside(u32),
    /// An http(s) URL serving it.
    Url(String),
}

/// Most metadata sources one entry may name.
pub const MAX_META_SOURCES: usize = 8;

impl std::fmt::Display for MetaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaSource::Inscription(id) => write!(f, "{id}"),
            MetaSource::Beside(n) => write!(f, "i{n}"),
            MetaSource::Url(u) => f.write_str(u),
        }
    }
}

impl serde::Serialize for MetaSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for MetaSource {
    type Err = String;
    fn from_str(s: &str) -> Result<MetaSource, String> {
        let shown = crate::text::line(s);
        if let Some(n) = s.strip_prefix('i').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            return n.parse().map(MetaSource::Beside).map_err(|_| format!("metadata '{shown}': index too large"));
        }
        if let Ok(id) = s.parse::<InscriptionId>() {
            return Ok(MetaSource::Inscription(id));
        }
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && s.len() <= 2048 => {
                Ok(MetaSource::Url(s.to_string()))
            }
            _ => Err(format!(
                "metadata '{shown}' is neither an inscription id (<txid>i<n>), an index in the goatfile's own transaction (i<n>), nor an http(s) URL"
            )),
        }
    }
}

/// Where an entry's files come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The files are those of the torrent this magnet names.
    Magnet(Magnet),
    /// The file is the (decoded) content of this inscription.
    Inscription(#[serde(serialize_with = "ser_display")] InscriptionId),
    /// The file is the (decoded) contents of these inscriptions, in order,
    /// joined; its sha256 is required, since no piece hashes check parts.
    Parts(#[serde(serialize_with = "ser_display_all")] Vec<InscriptionId>),
}

/// Most parts one on-chain file may have.
pub const MAX_PARTS: usize = 64;

fn ser_display<S: serde::Serializer>(v: &InscriptionId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_display_all<S: serde::Serializer>(v: &[InscriptionId], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for id in v {
        seq.serialize_element(&id.to_string())?;
    }
    seq.end()
}

impl Source {
    /// The inscriptions an on-chain entry's file is made of, in order.
    pub fn inscriptions(&self) -> Option<Vec<InscriptionId>> {
        match self {
            Source::Magnet(_) => None,
            Source::Inscription(id) => Some(vec![*id]),
            Source::Parts(ids) => Some(ids.clone()),
        }
    }
}

/// A file an entry is expected to hold, and what it is checked against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileSpec {
    /// Relative path inside the entry's folder.
    pub path: String,
    /// Expected length in bytes (None: not given).
    pub size: Option<u64>,
    /// Lowercase hex.
    pub sha256: Option<String>,
}

/// Why content is not a goatfile. The message is one line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

// ---- the versioned form, as written -------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawV1 {
    goat: serde_norway::Value,
    name: Option<String>,
    description: Option<String>,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    magnet: Option<String>,
    inscription: Option<String>,
    parts: Option<Vec<String>>,
    files: Option<Vec<RawFile>>,
    // inscription entries name their single file inline
    path: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    metadata: Option<OneOrMany>,
    hf: Option<HfRepo>,
}

/// `metadata:` takes one source or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: String,
    size: Option<u64>,
    sha256: Option<String>,
}

/// Parse goatfile bytes (already content-decoded).
pub fn parse(bytes: &[u8]) -> Result<Goatfile, ParseError> {
    // Every message printable, whichever check made it: the YAML parser's
    // own messages quote keys and values, and YAML's "\e" is ESC.
    parse_any(bytes).map_err(|e| ParseError(crate::text::message(&e.0)))
}

fn parse_any(bytes: &[u8]) -> Result<Goatfile, ParseError> {
    if bytes.len() > MAX_BYTES {
        return err(format!("goatfile is {} bytes, more than the {MAX_BYTES} byte limit", bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError(format!("goatfile is not UTF-8 ({e})")))?;
    if text.trim().is_empty() {
        return err("goatfile is empty");
    }
    // libyaml (under serde_norway) bounds alias expansion and recursion; we
    // check depth and node count again on the result.
    let value: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| ParseError(format!("not valid YAML: {}", crate::text::one_line(&e.to_string(), usize::MAX))))?;
    let mut nodes = 0;
    check_shape(&value, 0, &mut nodes)?;
    let serde_norway::Value::Mapping(map) = &value else {
        return err("a goatfile must be a YAML mapping (key: value lines)");
    };
    if map.contains_key("goat") {
        parse_v1(value)
    } else {
        parse_loose(&value)
    }
}

fn check_shape(v: &serde_norway::Value, depth: usize, nodes: &mut usize) -> Result<(), ParseError> {
    use serde_norway::Value::*;
    *nodes += 1;
    if *nodes > MAX_NODES {
        return err(format!("goatfile has more than {MAX_NODES} YAML nodes (alias bomb?)"));
    }
    if depth > MAX_DEPTH {
        return err(format!("goatfile nests deeper than {MAX_DEPTH} levels"));
    }
    match v {
        Sequence(s) => s.iter().try_for_each(|x| check_shape(x, depth + 1, nodes)),
        Mapping(m) => m.iter().try_for_each(|(k, x)| {
            check_shape(k, depth + 1, nodes)?;
            check_shape(x, depth + 1, nodes)
        }),
        Tagged(t) => check_shape(&t.value, depth + 1, nodes),
        _ => Ok(()),
    }
}

fn parse_v1(value: serde_norway::Value) -> Result<Goatfile, ParseError> {
    let version = match value.get("goat") {
        Some(serde_norway::Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
        Some(other) => {
            return err(format!(
                "'goat:' must be a schema version number, got {}",
                crate::text::one_line(&serde_norway::to_string(other).unwrap_or_default(), usize::MAX)
            ))
        }
        None => 0,
    };
    if !SUPPORTED_VERSIONS.contains(&version) {
        return err(format!(
            "goatfile schema version {version} is not supported by this goat (supports {SUPPORTED_VERSIONS:?}): upgrade goat"
        ));
    }
    let raw: RawV1 = serde_norway::from_value(value).map_err(|e| {
        ParseError(format!("goatfile v1 schema: {}", crate::text::one_line(&e.to_string(), usize::MAX)))
    })?;
    let _ = raw.goat;
    if raw.entries.is_empty() {
        return err("goatfile has no entries");
    }
    if raw.entries.len() > MAX_ENTRIES {
        return err(format!("goatfile has more than {MAX_ENTRIES} entries"));
    }
    let mut entries = Vec::new();
    for e in raw.entries {
        let where_ = format!("entry '{}'", crate::text::line(&e.name));
        let id = |i: &String| -> Result<InscriptionId, ParseError> {
            i.parse().map_err(|_| ParseError(format!("{where_}: '{}' is not an inscription id", crate::text::line(i))))
        };
        let source = match (&e.magnet, &e.inscription, &e.parts) {
            (Some(m), None, None) => {
                Source::Magnet(Magnet::parse(m).map_err(|x| ParseError(format!("{where_}: invalid magnet: {x}")))?)
            }
            (None, Some(i), None) => Source::Inscription(id(i)?),
            (None, None, Some(parts)) => {
                if parts.is_empty() || parts.len() > MAX_PARTS {
                    return err(format!("{where_}: 'parts' lists 1 to {MAX_PARTS} inscription ids"));
                }
                let ids = parts.iter().map(id).collect::<Result<Vec<_>, _>>()?;
                if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
                    return err(format!("{where_}: 'parts' lists an inscription twice"));
                }
                if e.sha256.is_none() {
                    return err(format!("{where_}: an entry made of parts needs the whole file's 'sha256'"));
                }
                Source::Parts(ids)
            }
            (None, None, None) => return err(format!("{where_}: needs a 'magnet', an 'inscription' or 'parts'")),
            _ => return err(format!("{where_}: has more than one of 'magnet', 'inscription' and 'parts', pick one")),
        };
        let files = match (&source, e.files) {
            (Source::Inscription(_) | Source::Parts(_), Some(_)) => {
                return err(format!("{where_}: an inscription entry names its file with 'path', not 'files'"))
            }
            (Source::Inscription(_) | Source::Parts(_), None) => {
                let Some(path) = e.path else {
                    return err(format!("{where_}: an inscription entry needs 'path' (the file name to write)"));
                };
                vec![file_spec(&where_, path, e.size, e.sha256)?]
            }
            (Source::Magnet(_), files) => {
                if e.path.is_some() || e.size.is_some() || e.sha256.is_some() {
                    return err(format!("{where_}: a magnet entry lists its files under 'files:'"));
                }
                let mut out = Vec::new();
                for f in files.unwrap_or_default() {
                    out.push(file_spec(&where_, f.path, f.size, f.sha256)?);
                }
                out
            }
        };
        let mut seen = HashSet::new();
        for f in &files {
            if !seen.insert(f.path.clone()) {
                return err(format!("{where_}: file '{}' is listed twice", f.path));
            }
        }
        let metadata = match (e.metadata, &source) {
            (None, _) => Vec::new(),
            (Some(_), Source::Inscription(_) | Source::Parts(_)) => {
                return err(format!(
                    "{where_}: 'metadata' belongs to magnet entries (an inscription entry has no torrent)"
                ))
            }
            (Some(m), Source::Magnet(_)) => {
                let all = match m {
                    OneOrMany::One(s) => vec![s],
                    OneOrMany::Many(v) => v,
                };
                if all.is_empty() || all.len() > MAX_META_SOURCES {
                    return err(format!("{where_}: 'metadata' names 1 to {MAX_META_SOURCES} sources"));
                }
                all.iter()
                    .map(|s| s.trim().parse::<MetaSource>().map_err(|x| ParseError(format!("{where_}: {x}"))))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let hf = match (e.hf, &source) {
            (None, _) => None,
            (Some(_), Source::Inscription(_) | Source::Parts(_)) => {
                return err(format!("{where_}: 'hf' belongs to magnet entries"))
            }
            (Some(h), Source::Magnet(_)) => {
                h.check().map_err(|x| ParseError(format!("{where_}: {x}")))?;
                Some(h)
            }
        };
        entries.push(Entry { name: e.name, source, files, metadata, hf });
    }
    finish(Goatfile { version, name: raw.name, description: raw.description, entries })
}

// ---- writing (goat publish) ------------------------------------------

#[derive(serde::Serialize)]
struct WriteV1<'a> {
    goat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    entries: Vec<WriteEntry<'a>>,
}

#[derive(serde::Serialize)]
struct WriteEntry<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    magnet: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inscription: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<&'a FileSpec>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metadata: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hf: Option<&'a HfRepo>,
}

impl Goatfile {
    /// The schema v1 YAML for this goatfile (docs/goatfile.md). What
    /// `parse` makes of it is this goatfile again, which `publish` checks
    /// before anything is inscribed.
    pub fn to_yaml(&self) -> Result<String, ParseError> {
        let entries = self
            .entries
            .iter()
            .map(|e| {
                let (magnet, inscription, parts, inline, files) = match &e.source {
                    Source::Magnet(m) => (Some(m.uri.as_str()), None, None, None, Some(e.files.iter().collect())),
                    Source::Inscription(id) => (None, Some(id.to_string()), None, e.files.first(), None),
                    Source::Parts(ids) => {
                        (None, None, Some(ids.iter().map(|i| i.to_string()).collect()), e.files.first(), None)
                    }
                };
                WriteEntry {
                    name: &e.name,
                    magnet,
                    inscription,
                    parts,
                    path: inline.map(|f| f.path.as_str()),
                    size: inline.and_then(|f| f.size),
                    sha256: inline.and_then(|f| f.sha256.as_deref()),
                    files,
                    metadata: e.metadata.iter().map(|m| m.to_string()).collect(),
                    hf: e.hf.as_ref(),
                }
            })
            .collect();
        let w = WriteV1 { goat: 1, name: self.name.as_deref(), description: self.description.as_deref(), entries };
        let text = serde_norway::to_string(&w).map_err(|e| ParseError(format!("cannot write the goatfile: {e}")))?;
        let back = parse(text.as_bytes())?;
        if back.entries != self.entries || back.name != self.name || back.description != self.description {
            return err("the goatfile goat wrote does not read back the same (a name or path YAML cannot carry?)");
        }
        Ok(text)
    }
}

fn file_spec(where_: &str, path: String, size: Option<u64>, sha256: Option<String>) -> Result<FileSpec, ParseError> {
    check_relative_path(&path)
        .map_err(|e| ParseError(format!("{where_}: file path '{}' {e}", crate::text::line(&path))))?;
    let sha256 = match sha256 {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Some(h.to_ascii_lowercase()),
        Some(h) => return err(format!("{where_}: sha256 '{}' is not 64 hex digits", crate::text::line(&h))),
        None => None,
    };
    Ok(FileSpec { path, size, sha256 })
}

/// The loose early form: any mapping whose string values are magnets; the
/// keys (joined with '/' when nested) become entry names.
fn parse_loose(value: &serde_norway::Value) -> Result<Goatfile, ParseError> {
    let mut found = BTreeMap::new();
    collect_magnets(value, String::new(), &mut found)?;
    if found.is_empty() {
        return err("no magnet URIs found: this YAML is not a goatfile (see docs/goatfile.md)");
    }
    let entries = found
        .into_iter()
        .map(|(name, magnet)| Entry { name, source: Source::Magnet(magnet), files: vec![], metadata: vec![], hf: None })
        .collect();
    finish(Goatfile { version: 0, name: None, description: None, entries })
}

fn collect_magnets(
    v: &serde_norway::Value,
    prefix: String,
    out: &mut BTreeMap<String, Magnet>,
) -> Result<(), ParseError> {
    use serde_norway::Value::*;
    match v {
        Mapping(m) => {
            for (k, x) in m {
                let key = match k {
                    String(s) => s.clone(),
                    Number(n) => n.to_string(),
                    Bool(b) => b.to_string(),
                    _ => continue,
                };
                let name = if prefix.is_empty() { key } else { format!("{prefix}/{key}") };
                collect_magnets(x, name, out)?;
            }
        }
        Sequence(s) => {
            for (i, x) in s.iter().enumerate() {
                let name = if prefix.is_empty() { i.to_string() } else { format!("{prefix}/{i}") };
                collect_magnets(x, name, out)?;
            }
        }
        String(s) if s.trim_start().to_ascii_lowercase().starts_with("magnet:") => {
            let m = Magnet::parse(s)
                .map_err(|e| ParseError(format!("'{}': invalid magnet: {e}", crate::text::line(&prefix))))?;
            out.insert(prefix, m);
        }
        _ => {}
    }
    if out.len() > MAX_ENTRIES {
        return err(format!("goatfile has more than {MAX_ENTRIES} entries"));
    }
    Ok(())
}

/// Checks shared by both forms: unique, safe names and no torrent twice.
fn finish(g: Goatfile) -> Result<Goatfile, ParseError> {
    let mut names = HashSet::new();
    let mut torrents = HashSet::new();
    for e in &g.entries {
        check_entry_name(&e.name)
            .map_err(|x| ParseError(format!("entry name '{}' {x}", crate::text::line(&e.name))))?;
        if !names.insert(folder_key(&e.name)) {
            return err(format!("entry name '{}' is used twice", e.name));
        }
        if let Source::Magnet(m) = &e.source {
            if !torrents.insert(m.identity()) {
                return err(format!("entry '{}' repeats a magnet already named by another entry", e.name));
            }
        }
    }
    // `a` and `a/b` would share files (a's torrent may hold a file `b/x`):
    // one entry's folder never lies inside another's.
    for e in &g.entries {
        let lower = folder_key(&e.name);
        let parts: Vec<&str> = lower.split(['/', '\\']).collect();
        for n in 1..parts.len() {
            let outer = parts[..n].join("/");
            if names.contains(&outer) || names.contains(&parts[..n].join("\\")) {
                return err(format!(
                    "entry name '{}' lies inside the folder of entry '{outer}': entries must not nest, rename one",
                    crate::text::line(&e.name)
                ));
            }
        }
    }
    Ok(g)
}

/// How an entry name is compared with the others: the folders two names
/// make are one on a case-insensitive or normalizing filesystem (macOS,
/// ext4 casefold) when their NFKC forms agree without case.
fn folder_key(name: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(name).to_lowercase()
}

/// goat's own folder beside the entries (manifests, saved torrents): no
/// entry may be named so.
pub const META_DIR: &str = ".goat";

/// Entry names become folder names (nested with '/').
fn check_entry_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("must be 1 to 200 characters".into());
    }
    check_relative_path(name)?;
    if name.split(['/', '\\']).next().is_some_and(|first| first.eq_ignore_ascii_case(META_DIR)) {
        return Err(format!("is goat's own metadata folder ({META_DIR}): rename the entry"));
    }
    Ok(())
}

/// A path that stays inside the folder it is joined to, on every OS.
pub fn check_relative_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("is empty".into());
    }
    if p.starts_with('/') || p.starts_with('\\') || p.contains(':') {
        return Err("is absolute".into());
    }
    p.split(['/', '\\']).try_for_each(crate::safefs::check_part).map_err(str::to_string)
}

#[cfg(test)]
mod tests;
