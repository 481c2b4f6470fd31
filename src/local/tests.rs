use super::*;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
}

#[test]
fn the_hub_cache_is_found_as_huggingface_hub_finds_it() {
    let home = [("HOME", "/home/u")];
    assert_eq!(hf::hub_cache_from(env(&home)), Some("/home/u/.cache/huggingface/hub".into()));
    let xdg = [("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")];
    assert_eq!(hf::hub_cache_from(env(&xdg)), Some("/x/huggingface/hub".into()));
    let hf_home = [("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x"), ("HF_HOME", "~/hf")];
    assert_eq!(hf::hub_cache_from(env(&hf_home)), Some("/home/u/hf/hub".into()));
    let old = [("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/old")];
    assert_eq!(hf::hub_cache_from(env(&old)), Some("/old".into()));
    let new = [("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/old"), ("HF_HUB_CACHE", "/new")];
    assert_eq!(hf::hub_cache_from(env(&new)), Some("/new".into()));
    // Set but empty counts as unset.
    let empty = [("HOME", "/home/u"), ("HF_HUB_CACHE", "")];
    assert_eq!(hf::hub_cache_from(env(&empty)), Some("/home/u/.cache/huggingface/hub".into()));
}

#[test]
fn neighbours_are_the_files_sharing_a_piece() {
    // Pieces of 10: a [0,15) b [15,20) pad [20,30) c [30,45)
    let g = Geometry {
        piece_length: 10,
        files: vec![
            ("a".into(), 0, 15, false),
            ("b".into(), 15, 5, false),
            ("pad".into(), 20, 10, true),
            ("c".into(), 30, 15, false),
        ],
    };
    assert_eq!(g.neighbours(0), vec![1]);
    assert_eq!(g.neighbours(1), vec![0]);
    assert_eq!(g.neighbours(3), Vec::<usize>::new());
}

fn sha(b: &[u8]) -> String {
    crate::hash::sha256_hex(b)
}

struct Case {
    _t: tempfile::TempDir,
    dir: PathBuf,
    from: PathBuf,
}

fn case() -> Case {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(dir).unwrap();
    let from = t.path().join("mine");
    std::fs::create_dir_all(from.join("deep")).unwrap();
    Case { _t: t, dir, from }
}

fn spec(path: &str, data: &[u8]) -> FileSpec {
    FileSpec { path: path.into(), size: Some(data.len() as u64), sha256: Some(sha(data)) }
}

#[test]
fn a_folder_copy_is_found_by_size_and_sha256_and_linked_without_touching_it() {
    let c = case();
    let a = vec![7u8; 3000];
    let b = vec![9u8; 500];
    std::fs::write(c.from.join("deep").join("renamed.bin"), &a).unwrap();
    // Same size, other bytes: hashed, refused, never used.
    std::fs::write(c.from.join("a.bin"), vec![1u8; 3000]).unwrap();
    let g = Geometry {
        piece_length: 1024,
        files: vec![("m/a.bin".into(), 0, 3000, false), ("b.bin".into(), 3000, 500, false)],
    };
    let placed = place(
        &Sources { hf: None, folders: vec![c.from.clone()] },
        &c.dir,
        &[spec("m/a.bin", &a), spec("b.bin", &b)],
        &g,
    );
    assert_eq!(placed.reused.len(), 1, "{placed:?}");
    let r = &placed.reused[0];
    assert_eq!(r.from, c.from.join("deep").join("renamed.bin"));
    // b.bin is missing: the piece it shares with a.bin is downloaded and
    // written into a.bin, so a.bin is never the user's file itself.
    assert_ne!(r.how, How::Hardlink);
    assert_eq!(std::fs::read(c.dir.join("m/a.bin")).unwrap(), a);
    assert_eq!(std::fs::metadata(c.dir.join("m/a.bin")).unwrap().nlink(), 1);
    assert_eq!(std::fs::read(c.from.join("a.bin")).unwrap(), vec![1u8; 3000]);
    assert!(placed.refused.iter().any(|x| x.from == c.from.join("a.bin") && x.why.contains("sha256")), "{placed:?}");
    // Nothing but the placed file (no temporary left).
    let names: Vec<_> = std::fs::read_dir(c.dir.join("m")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("a.bin")]);
}

#[test]
fn whole_torrents_are_hard_linked_where_no_reflink_exists() {
    let c = case();
    let a = vec![7u8; 3000];
    let b = vec![9u8; 500];
    std::fs::write(c.from.join("a"), &a).unwrap();
    std::fs::write(c.from.join("b"), &b).unwrap();
    let g = Geometry { piece_length: 1024, files: vec![("a".into(), 0, 3000, false), ("b".into(), 3000, 500, false)] };
    let placed =
        place(&Sources { hf: None, folders: vec![c.from.clone()] }, &c.dir, &[spec("a", &a), spec("b", &b)], &g);
    assert_eq!(placed.reused.len(), 2, "{placed:?}");
    for r in &placed.reused {
        let linked = std::fs::metadata(c.dir.join(&r.path)).unwrap().nlink() == 2;
        assert!(r.how == How::Reflink || (r.how == How::Hardlink && linked), "{r:?}");
    }
    assert_eq!(placed.bytes(), 3500);
}

#[test]
fn a_file_already_there_is_left_alone() {
    let c = case();
    let a = vec![7u8; 3000];
    std::fs::write(c.from.join("a"), &a).unwrap();
    std::fs::write(c.dir.join("a"), b"partial").unwrap();
    let g = Geometry { piece_length: 1024, files: vec![("a".into(), 0, 3000, false)] };
    let placed = place(&Sources { hf: None, folders: vec![c.from.clone()] }, &c.dir, &[spec("a", &a)], &g);
    assert!(placed.reused.is_empty());
    assert_eq!(std::fs::read(c.dir.join("a")).unwrap(), b"partial");
}

#[test]
fn links_in_a_from_folder_are_not_followed() {
    let c = case();
    let a = vec![7u8; 3000];
    let elsewhere = c._t.path().join("elsewhere");
    std::fs::write(&elsewhere, &a).unwrap();
    std::os::unix::fs::symlink(&elsewhere, c.from.join("a")).unwrap();
    let g = Geometry { piece_length: 1024, files: vec![("a".into(), 0, 3000, false)] };
    let placed = place(&Sources { hf: None, folders: vec![c.from.clone()] }, &c.dir, &[spec("a", &a)], &g);
    assert!(placed.reused.is_empty(), "{placed:?}");
}

#[test]
fn git_blob_hashes_are_gits() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("f");
    std::fs::write(&p, b"hello").unwrap();
    // git hash-object of "hello" (no newline).
    assert_eq!(hf::git_blob_hash(&p).unwrap(), "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
}

#[test]
fn a_same_size_file_of_other_bytes_is_refused_for_every_want() {
    let c = case();
    let a = vec![7u8; 3000];
    let b = vec![8u8; 3000];
    std::fs::write(c.from.join("other"), vec![1u8; 3000]).unwrap();
    let g = Geometry { piece_length: 4096, files: vec![("a".into(), 0, 3000, false), ("b".into(), 4096, 3000, false)] };
    let placed =
        place(&Sources { hf: None, folders: vec![c.from.clone()] }, &c.dir, &[spec("a", &a), spec("b", &b)], &g);
    assert!(placed.reused.is_empty());
    assert_eq!(placed.refused.len(), 2, "{placed:?}");
    assert!(placed.refused.iter().all(|r| r.why.contains("sha256")));
}

#[test]
fn a_file_others_may_write_is_never_hard_linked() {
    use std::os::unix::fs::PermissionsExt;
    let c = case();
    let a = vec![7u8; 3000];
    std::fs::write(c.from.join("a"), &a).unwrap();
    std::fs::set_permissions(c.from.join("a"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let g = Geometry { piece_length: 1024, files: vec![("a".into(), 0, 3000, false)] };
    let placed = place(&Sources { hf: None, folders: vec![c.from.clone()] }, &c.dir, &[spec("a", &a)], &g);
    assert_eq!(placed.reused.len(), 1, "{placed:?}");
    assert_ne!(placed.reused[0].how, How::Hardlink);
    assert_eq!(std::fs::metadata(c.dir.join("a")).unwrap().nlink(), 1);
}
