//! Hostile chain input: what anyone can airdrop to an address or write in
//! a goatfile must not hurt the user who walks it. Memory stays bounded
//! (each run has a ceiling, so a regression fails here instead of
//! starving the machine), and the honest goatfile still resolves.

use crate::harness::*;
use goat::devchain::{Envelope, Inscribe};

/// Peak memory a walk over a hostile airdrop may use beyond the same walk
/// without it (issue 34's aim).
const BEYOND_BASELINE: u64 = 64 << 20;

/// The stranger inscribes `envelopes` (one reveal input), to the holder
/// (an airdrop) or to itself.
fn stranger_inscribes(s: &mut Scene, envelopes: Vec<Envelope>, to_holder: bool) -> goat::devchain::Inscribed {
    let stranger = s.stranger.clone();
    let to = if to_holder { s.holder.script_pubkey() } else { stranger.script_pubkey() };
    s.chain.inscribe(Inscribe { funder: &stranger, inputs: vec![envelopes], to, reveal_input_from: None })
}

/// A delegate bomb: the stranger inscribes one 3.9 MB YAML-typed
/// inscription, then sends the holder one transaction of `n` envelopes
/// that each delegate to it. A second airdrop names 20 different small
/// delegates, more than goat reads for one transaction.
fn bombed(n: usize) -> (Scene, String) {
    let (mut s, addr) = published();
    let big = "# padding\n".repeat(390_000);
    let del = stranger_inscribes(&mut s, vec![Envelope::file("text/yaml", None, big.as_bytes())], false);
    s.chain.mine();
    stranger_inscribes(&mut s, vec![Envelope::delegate(&del.id(0)); n], true);
    let mut small = Vec::new();
    for i in 0..20 {
        let d = stranger_inscribes(
            &mut s,
            vec![Envelope::file("text/plain", None, format!("small {i}").as_bytes())],
            false,
        );
        small.push(Envelope::delegate(&d.id(0)));
    }
    s.chain.mine();
    stranger_inscribes(&mut s, small, true);
    s.chain.mine();
    (s, addr)
}

/// `goat resolve` and `goat ls` over `hostile`'s history, on Esplora and
/// on Electrum, each under the memory ceiling: they succeed, the holder's
/// goatfile still wins, and each peaks within `BEYOND_BASELINE` of
/// `resolve` over the honest history. Returns (resolve, ls) per protocol.
fn bounded(hostile: &goat::devchain::server::Handle, addr: &str) -> Vec<(&'static str, Out, Out)> {
    let (honest, _) = published();
    let honest = honest.serve();
    let mut runs = Vec::new();
    for (what, flag, honest_url, url) in [
        ("esplora", "--esplora", &honest.url, &hostile.url),
        ("electrum", "--electrum", &honest.electrum, &hostile.electrum),
    ] {
        let base = goat().memory_ceiling(CEILING).args([flag, honest_url.as_str(), "resolve", addr]).run().ok();
        let resolve = goat().memory_ceiling(CEILING).args([flag, url.as_str(), "resolve", addr]).run().ok();
        assert!(
            resolve.stdout.contains("name: model"),
            "{what}: the holder's goatfile must still win: {}",
            resolve.stderr
        );
        let ls = goat().memory_ceiling(CEILING).args([flag, url.as_str(), "ls", addr]).run().ok();
        for (cmd, out) in [("resolve", &resolve), ("ls", &ls)] {
            eprintln!(
                "{what}: {cmd} peaked at {} MB, resolve over the honest history at {} MB",
                out.peak_rss >> 20,
                base.peak_rss >> 20
            );
            assert!(
                out.peak_rss < base.peak_rss + BEYOND_BASELINE,
                "{what}: {cmd} peaked at {} MB, the honest walk at {} MB",
                out.peak_rss >> 20,
                base.peak_rss >> 20
            );
        }
        runs.push((what, resolve, ls));
    }
    runs
}

#[test]
fn a_delegate_bomb_is_walked_in_bounded_memory_over_esplora_and_electrum() {
    let (bomb, addr) = bombed(9_000);
    let bomb = bomb.serve();
    for (what, resolve, ls) in bounded(&bomb, &addr) {
        assert!(
            resolve.stderr.contains("name delegates in more than 16 transactions"),
            "{what}: the airdrop naming 20 delegates is warned about: {}",
            resolve.stderr
        );
        // Every inscription listed, none holding its body.
        let rows = ls.stdout.lines().filter(|l| l.contains("text/yaml")).count();
        assert_eq!(rows, 9_000 + 1, "{what}: the bomb's inscriptions and the holder's goatfile: {}", &ls.stderr);
        assert!(ls.stdout.contains("3900000"), "{what}: the delegate's size is shown");
    }
}

/// The holder's signed goatfile named `name`, with one on-chain entry
/// `autostart` holding `evil.desktop`, served over Esplora and Electrum
/// (the devchain is deterministic: every scene has the same holder).
fn named(name: &str) -> (goat::devchain::server::Handle, String) {
    use bitcoin::hashes::{sha256, Hash};
    let mut s = Scene::new();
    let holder = s.holder.clone();
    let file = b"[Desktop Entry]\nExec=sh -c 'echo owned'\n";
    let part = s.inscribe_to_holder(&holder, "text/plain", file);
    s.chain.mine();
    let yaml = format!(
        "goat: 1\nname: {name:?}\nentries:\n  - name: autostart\n    inscription: {}\n    path: evil.desktop\n    sha256: {}\n",
        part.id(0),
        sha256::Hash::hash(file)
    );
    s.inscribe_to_holder(&holder, "text/yaml", yaml.as_bytes());
    s.chain.mine();
    let addr = s.address();
    (s.serve(), addr)
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn a_goatfile_name_never_picks_a_dangerous_folder() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    for (name, why) in [(".config", "starts with a dot"), ("a/b", "is a path"), ("..", "starts with a dot")] {
        let (h, addr) = named(name);
        for (flag, url) in [("--esplora", &h.url), ("--electrum", &h.electrum)] {
            let out = goat().current_dir(home).args([flag, url.as_str(), "fetch", &addr]).run().fails(2, why);
            assert!(out.stderr.contains("-o DIR"), "{}", out.stderr);
            assert!(entries(home).is_empty(), "{name}: nothing may be written: {:?}", entries(home));
        }
        // The user's choice is the user's.
        let chosen = home.join("chosen");
        goat().current_dir(home).args(["--esplora", &h.url, "fetch", &addr, "-o", "chosen"]).run().ok();
        assert!(chosen.join("autostart/evil.desktop").is_file());
        std::fs::remove_dir_all(&chosen).unwrap();
    }

    // A folder of the user's own with the goatfile's name is not goat's.
    let (h, addr) = named("models");
    std::fs::create_dir(home.join("models")).unwrap();
    std::fs::write(home.join("models/notes.txt"), "mine").unwrap();
    for (flag, url) in [("--esplora", &h.url), ("--electrum", &h.electrum)] {
        goat()
            .current_dir(home)
            .args([flag, url.as_str(), "fetch", &addr])
            .run()
            .fails(2, "already exists and is not goat's download");
    }
    assert_eq!(entries(&home.join("models")), ["notes.txt"]);
    // Nor is a link of that name, wherever it points.
    std::fs::remove_dir_all(home.join("models")).unwrap();
    std::os::unix::fs::symlink(home.join("elsewhere"), home.join("models")).unwrap();
    goat().current_dir(home).args(["--esplora", &h.url, "fetch", &addr]).run().fails(2, "already exists");
    std::fs::remove_file(home.join("models")).unwrap();
    // goat's own download of the same address is picked up again.
    goat().current_dir(home).args(["--esplora", &h.url, "fetch", &addr]).run().ok();
    goat().current_dir(home).args(["--electrum", &h.electrum, "fetch", &addr]).run().ok();
    assert!(home.join("models/autostart/evil.desktop").is_file());
    // ... but not another source's.
    let other = goat()
        .current_dir(home)
        .args(["--esplora", &h.url, "fetch", "--goatfile"])
        .args([home.join("models/.goat/goatfile.yaml")])
        .run();
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(other.stderr.contains("not goat's download of"), "{}", other.stderr);
}

/// Nothing goat prints holds a control character but the line ends.
fn clean(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n')
}

#[test]
fn escapes_in_a_goatfile_never_reach_the_terminal() {
    // YAML's "\e" is ESC, "\a" BEL; serde quotes keys and values in its
    // messages, and goat's own checks quote names.
    let hostile = [
        "goat: 1\n\"\\e[2J\\e]0;owned\\a\": 1\nentries: []\n",
        "goat: \"\\e[31mred\"\n",
        "goat: 1\nname: \"\\e[2J\"\nentries:\n  - name: \"\\e[1mx\"\n    magnet: \"\\e[5m\"\n",
        "goat: 1\nentries:\n  - name: x\n    magnet: \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\"\n    files:\n      - path: \"a\\e[2J\"\n",
        "goat: 1\nentries: \"\\e[2J\\u202e\"\n",
        "{\"\\e[2J\": [\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, yaml) in hostile.iter().enumerate() {
        let f = dir.path().join(format!("hostile-{i}.yaml"));
        std::fs::write(&f, yaml).unwrap();
        let out = goat().args(["fetch", "--goatfile"]).args([&f]).args(["-o"]).args([dir.path().join("out")]).run();
        assert_ne!(out.code, 0, "{yaml:?} must be refused");
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(clean(&out.stderr) && clean(&out.stdout), "{yaml:?} printed raw control characters: {:?}", out.stderr);
    }
    // The same from the chain: the holder's own (signed) hostile goatfile
    // is reported as one that does not parse, over both protocols.
    let mut s = Scene::new();
    let holder = s.holder.clone();
    s.inscribe_to_holder(&holder, "text/yaml", hostile[0].as_bytes());
    s.chain.mine();
    let addr = s.address();
    let h = s.serve();
    for (flag, url) in [("--esplora", &h.url), ("--electrum", &h.electrum)] {
        let out = goat().args([flag, url.as_str(), "-v", "resolve", &addr]).run().fails(3, "do not parse");
        assert!(clean(&out.stderr), "{flag}: {:?}", out.stderr);
        let out = goat().args([flag, url.as_str(), "ls", &addr, "--json"]).run().ok();
        assert!(clean(&out.stdout), "{flag}: {:?}", out.stdout);
    }
}

/// The holder's goatfile, then `n` witness-heavy airdrops (a 3.9 MB
/// inscription each, one per block): the newest history page is then far
/// past any sane cap on one answer (about 8 MB of hex per transaction).
fn heavy_page(n: usize) -> (Scene, String) {
    let (mut s, addr) = published();
    for i in 0..n {
        let big = format!("{i}").repeat(3_900_000);
        stranger_inscribes(&mut s, vec![Envelope::file("application/octet-stream", None, big.as_bytes())], true);
        s.chain.mine();
    }
    (s, addr)
}

#[test]
fn an_address_whose_newest_page_is_huge_still_resolves() {
    // About 80 MB of JSON in one Esplora page, about 80 MB of hex in one
    // Electrum batch: both past the 32 MiB cap one answer had.
    let (heavy, addr) = heavy_page(10);
    let heavy = heavy.serve();
    for (what, _, ls) in bounded(&heavy, &addr) {
        assert_eq!(
            ls.stdout.lines().filter(|l| l.contains("application/octet-stream")).count(),
            10,
            "{what}: {}",
            ls.stdout
        );
    }
}

/// A brotli body of a few hundred bytes that decodes to a valid goatfile
/// of nearly goat's 256 KiB limit (a long description).
fn inflating_goatfile() -> Vec<u8> {
    use std::io::Write;
    let yaml = format!(
        "goat: 1\nname: bomb\ndescription: \"{}\"\nentries:\n  - name: e\n    magnet: \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\"\n",
        "a".repeat(250_000)
    );
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(yaml.as_bytes()).unwrap();
    }
    out
}

#[test]
fn thousands_of_inflating_goatfiles_are_judged_in_bounded_memory() {
    // 3,000 delegates, each a tiny brotli body that inflates to a 250 KB
    // goatfile (750 MB if all were kept), and one airdrop naming every one
    // of them; plus the same bodies inscribed directly. (One body for all:
    // each inscription is its own content, judged on its own.)
    let (mut s, addr) = published();
    let n = 3_000;
    let body = inflating_goatfile();
    let envelopes: Vec<Envelope> = (0..n).map(|_| Envelope::file("text/yaml", Some("br"), &body)).collect();
    let del = stranger_inscribes(&mut s, envelopes.clone(), false);
    s.chain.mine();
    stranger_inscribes(&mut s, (0..n as u32).map(|i| Envelope::delegate(&del.id(i))).collect(), true);
    s.chain.mine();
    stranger_inscribes(&mut s, envelopes, true);
    s.chain.mine();
    let h = s.serve();
    for (what, _, ls) in bounded(&h, &addr) {
        let judged = ls.stdout.lines().filter(|l| l.contains(" yes ")).count();
        let unread = ls.stdout.lines().filter(|l| l.contains(" invalid ")).count();
        eprintln!("{what}: ls judged {judged} as goatfiles, left {unread} unread");
        assert!(unread > 0, "{what}: the decoding budget must have run out");
    }
}

#[test]
fn a_folder_from_elsewhere_is_judged_not_trusted() {
    let (h, addr) = named("shared");
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    goat().current_dir(home).args(["--esplora", &h.url, "fetch", &addr]).run().ok();
    // A manifest whose spans overflow (a folder copied from someone else):
    // refused as damaged, no panic, no arithmetic wrapped.
    let manifest = std::fs::read_dir(home.join("shared/.goat"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().is_some_and(|n| n != "source.json") && p.extension().is_some_and(|x| x == "json"))
        .expect("a manifest");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut v = v;
    v["files"][0]["offset"] = serde_json::json!(u64::MAX - 5);
    std::fs::write(&manifest, v.to_string()).unwrap();
    goat().args(["verify"]).args([home.join("shared")]).run().fails(5, "is damaged");

    // A goatfile given as a file: its folder is goat's only for the very
    // same goatfile, whatever the file is called.
    let first = home.join("g.yaml");
    std::fs::write(&first, "goat: 1\nname: byfile\nentries:\n  - name: x\n    magnet: \"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\"\n").unwrap();
    std::fs::create_dir(home.join("byfile")).unwrap();
    std::fs::create_dir(home.join("byfile/.goat")).unwrap();
    std::fs::write(
        home.join("byfile/.goat/source.json"),
        r#"{"address":null,"inscription":null,"block_height":null,"file":"g.yaml"}"#,
    )
    .unwrap();
    std::fs::write(home.join("byfile/.goat/goatfile.yaml"), "goat: 1\nname: byfile\nentries: []\n").unwrap();
    goat()
        .current_dir(home)
        .args(["fetch", "--goatfile", "g.yaml", "--metadata-timeout", "1", "--no-dht", "--loopback"])
        .run()
        .fails(2, "already exists and is not goat's download of 'g.yaml'");
}

#[test]
fn an_electrum_server_flooding_notifications_is_held_to_its_answers() {
    // Header notifications before every answer count against that
    // answer's bytes (electrum-client keeps them until popped; goat pops
    // them after each call): a megabyte each is more than a small answer
    // may take, and the server is named; 200 KB each still resolves.
    let (s, addr) = published();
    let h = s.serve();
    h.state.arm("notify", goat::devchain::server::Fault::Notify(1 << 20), 10_000);
    let out = goat()
        .memory_ceiling(CEILING)
        .args(["--electrum", &h.electrum, "resolve", &addr])
        .run()
        .fails(4, "sent an answer larger than goat reads");
    assert!(out.stderr.contains(&h.electrum), "{}", out.stderr);
    let (s, _) = published();
    let h = s.serve();
    h.state.arm("notify", goat::devchain::server::Fault::Notify(100_000), 10_000);
    let (honest, _) = published();
    let honest = honest.serve();
    let base = goat().memory_ceiling(CEILING).args(["--electrum", &honest.electrum, "resolve", &addr]).run().ok();
    let out = goat().memory_ceiling(CEILING).args(["--electrum", &h.electrum, "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"), "{}", out.stderr);
    let calls = h.state.requests().len();
    eprintln!(
        "{calls} calls, each after a 200 KB notification: peak {} MB, honest {} MB",
        out.peak_rss >> 20,
        base.peak_rss >> 20
    );
    assert!(
        out.peak_rss < base.peak_rss + BEYOND_BASELINE,
        "{} MB against {} MB",
        out.peak_rss >> 20,
        base.peak_rss >> 20
    );
}
