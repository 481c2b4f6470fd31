use super::*;

#[test]
fn every_sample_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample-goatfiles");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let g = parse(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(!g.entries.is_empty(), "{}", p.display());
        n += 1;
    }
    assert!(n >= 3);
}

#[test]
fn entries_never_name_goats_folder_or_nest() {
    let m = |name: &str, i: u8| {
        format!(" - name: \"{name}\"\n   magnet: \"magnet:?xt=urn:btih:{}\"\n", format!("{i:02x}").repeat(20))
    };
    for (entries, why) in [
        (m(".goat", 1), "metadata folder"),
        (m(".GOAT/x", 1), "metadata folder"),
        (m("a", 1) + &m("a/b", 2), "must not nest"),
        (m("x/y/z", 1) + &m("X/Y", 2), "must not nest"),
        (m("caf\u{e9}", 1) + &m("cafe\u{301}", 2), "used twice"),
        (m("\u{ff21}", 1) + &m("a", 2), "used twice"),
    ] {
        let e = parse(format!("goat: 1\nentries:\n{entries}").as_bytes()).unwrap_err();
        assert!(e.to_string().contains(why), "{entries}: {e}");
    }
    assert!(parse(format!("goat: 1\nentries:\n{}{}", m("a/b", 1), m("a/c", 2)).as_bytes()).is_ok());
    assert!(parse(format!("goat: 1\nentries:\n{}", m(".config-not-goat", 1)).as_bytes()).is_ok());
}

#[test]
fn v1_fields() {
    let g = parse(include_bytes!("../../../../sample-goatfiles/v1-llama.yaml")).unwrap();
    assert_eq!(g.version, 1);
    assert_eq!(g.entries.len(), 3);
    assert_eq!(g.entries[0].files.len(), 3);
    assert_eq!(g.entries[0].files[0].size, Some(9976576152));
    assert!(matches!(g.entries[2].source, Source::Inscription(_)));
    assert_eq!(g.entries[2].files[0].path, "tokenizer.json");
}

#[test]
fn loose_form_names() {
    let g = parse(include_bytes!("../../../../sample-goatfiles/loose-early-form.yaml")).unwrap();
    let names: Vec<_> = g.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["adapters/lora-chat", "llama-13b", "llama-7b"]);
    assert_eq!(g.version, 0);
}

fn rejects(text: &str, needle: &str) {
    let e = parse(text.as_bytes()).unwrap_err();
    assert!(e.0.contains(needle), "expected '{needle}' in '{}'", e.0);
    assert!(!e.0.contains('\n'));
}

const M1: &str = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";

#[test]
fn hostile_and_invalid_inputs() {
    rejects("", "empty");
    rejects("a: [", "not valid YAML");
    rejects("- just\n- a list\n", "mapping");
    rejects("x: 1\n", "no magnet");
    rejects(&format!("goat: 2\nentries:\n - name: a\n   magnet: \"{M1}\"\n"), "version 2 is not supported");
    rejects(&format!("goat: one\nentries:\n - name: a\n   magnet: \"{M1}\"\n"), "schema version number");
    rejects("goat: 1\nentries:\n - name: a\n   magnet: \"magnet:?dn=x\"\n", "invalid magnet");
    rejects(
        &format!("goat: 1\nentries:\n - name: a\n   magnet: \"{M1}\"\n - name: b\n   magnet: \"{M1}&dn=z\"\n"),
        "repeats a magnet",
    );
    rejects(
        &format!(
            "goat: 1\nentries:\n - name: a\n   magnet: \"{M1}\"\n - name: a\n   inscription: {}i0\n   path: x\n",
            "1".repeat(64)
        ),
        "used twice",
    );
    rejects(&format!("goat: 1\nentries:\n - name: ../up\n   magnet: \"{M1}\"\n"), "'..'");
    rejects(
        &format!("goat: 1\nentries:\n - name: a\n   magnet: \"{M1}\"\n   files:\n    - path: /etc/passwd\n"),
        "absolute",
    );
    rejects(&format!("goat: 1\nentries:\n - name: a\n   magnet: \"{M1}\"\n   colour: red\n"), "unknown field");
    rejects(
        &format!(
            "goat: 1\nentries:\n - name: a\n   magnet: \"{M1}\"\n   files:\n    - path: x\n      sha256: nothex\n"
        ),
        "sha256",
    );
    assert!(parse(&[0xff, 0xfe, 0x00]).unwrap_err().0.contains("UTF-8"));
    assert!(parse(&vec![b'#'; MAX_BYTES + 1]).unwrap_err().0.contains("limit"));
}

#[test]
fn alias_bomb_and_deep_nesting_are_refused() {
    let bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n\
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    assert!(parse(bomb.as_bytes()).is_err());
    let deep = format!("{}x{}", "[".repeat(200), "]".repeat(200));
    assert!(parse(format!("k: {deep}").as_bytes()).is_err());
}

#[test]
fn parts_need_the_whole_sha256_and_round_trip() {
    let id = "1111111111111111111111111111111111111111111111111111111111111111i0";
    let id2 = "2222222222222222222222222222222222222222222222222222222222222222i0";
    let sha = "ab".repeat(32);
    let ok = format!("goat: 1\nentries:\n  - name: w\n    parts: [{id}, {id2}]\n    path: w.bin\n    sha256: {sha}\n");
    let g = parse(ok.as_bytes()).unwrap();
    assert!(matches!(&g.entries[0].source, Source::Parts(v) if v.len() == 2));
    let back = parse(g.to_yaml().unwrap().as_bytes()).unwrap();
    assert_eq!(back, g, "the writer's YAML parses to the same goatfile");
    let no_sha = format!("goat: 1\nentries:\n  - name: w\n    parts: [{id}]\n    path: w.bin\n");
    assert!(parse(no_sha.as_bytes()).unwrap_err().0.contains("sha256"));
    let twice =
        format!("goat: 1\nentries:\n  - name: w\n    parts: [{id}, {id}]\n    path: w.bin\n    sha256: {sha}\n");
    assert!(parse(twice.as_bytes()).unwrap_err().0.contains("twice"));
    let both = format!("goat: 1\nentries:\n  - name: w\n    inscription: {id}\n    parts: [{id2}]\n    path: w.bin\n    sha256: {sha}\n");
    assert!(parse(both.as_bytes()).unwrap_err().0.contains("pick one"));
}

#[test]
fn an_hf_repository_is_checked_and_round_trips() {
    let m = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    let rev = "a".repeat(40);
    let ok = format!("goat: 1\nentries:\n  - name: w\n    magnet: \"{m}\"\n    hf:\n      repo: org/tiny-llama.v2\n      revision: {rev}\n");
    let g = parse(ok.as_bytes()).unwrap();
    assert_eq!(g.entries[0].hf, Some(HfRepo { repo: "org/tiny-llama.v2".into(), revision: rev.clone() }));
    assert_eq!(parse(g.to_yaml().unwrap().as_bytes()).unwrap(), g);
    // It names a folder in the hub cache: nothing but the hub's own ids.
    for bad in ["../x", "org/../x", "a--b/c", "a/b/c", "-a/b", "a/b.", "a b/c", "org/\\e[2J", ""] {
        let y = format!("goat: 1\nentries:\n  - name: w\n    magnet: \"{m}\"\n    hf:\n      repo: \"{bad}\"\n      revision: {rev}\n");
        assert!(parse(y.as_bytes()).unwrap_err().0.contains("repository id"), "{bad}");
    }
    for bad in ["main", "A".repeat(40).as_str(), "a".repeat(39).as_str()] {
        let y = format!("goat: 1\nentries:\n  - name: w\n    magnet: \"{m}\"\n    hf:\n      repo: org/x\n      revision: \"{bad}\"\n");
        assert!(parse(y.as_bytes()).unwrap_err().0.contains("commit"), "{bad}");
    }
    let on_chain = format!("goat: 1\nentries:\n  - name: w\n    inscription: {}i0\n    path: w.bin\n    hf:\n      repo: org/x\n      revision: {rev}\n", "1".repeat(64));
    assert!(parse(on_chain.as_bytes()).unwrap_err().0.contains("magnet entries"));
    let extra = format!("goat: 1\nentries:\n  - name: w\n    magnet: \"{m}\"\n    hf:\n      repo: org/x\n      revision: {rev}\n      extra: 1\n");
    assert!(parse(extra.as_bytes()).is_err());
}
