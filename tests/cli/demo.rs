//! `goat demo`, `goat completions`, `goat man`.

use crate::harness::*;

/// The newcomer's first command: the whole flow offline, then clean up.
#[test]
fn demo_runs_the_whole_flow_and_cleans_up() {
    let out = goat().args(["demo", "--size", "2"]).run().ok();
    for step in [
        "[1/4] publisher",
        "[2/4] publisher: goat publish",
        "[3/4] you: goat --esplora",
        "[4/4] goat verify",
        "ok        tiny-llama/model.safetensors",
        "demo done",
    ] {
        assert!(
            out.stderr.contains(step) || out.stdout.contains(step),
            "missing '{step}':\n{}\n{}",
            out.stderr,
            out.stdout
        );
    }
    let work =
        out.stderr.split(" -o ").nth(1).and_then(|s| s.split("/you/").next()).expect("the fetch line names its folder");
    assert!(!std::path::Path::new(work).exists(), "{work} was not removed");

    let keep = tempfile::tempdir().unwrap();
    let dir = keep.path().join("model");
    goat().args(["demo", "--size", "1", "--keep"]).args([&dir]).run().ok();
    assert_eq!(std::fs::metadata(dir.join("tiny-llama/model.safetensors")).unwrap().len(), 1 << 20);
    goat().args(["verify"]).args([&dir]).run().ok();
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let bash = goat().args(["completions", "bash"]).run().ok();
    assert!(
        bash.stdout.contains("goat__subcmd__seed") && bash.stdout.contains("--max-upload-rate"),
        "{}",
        &bash.stdout[..200]
    );
    let zsh = goat().args(["completions", "zsh"]).run().ok();
    assert!(zsh.stdout.starts_with("#compdef goat"));
    let bad = goat().args(["completions", "tcsh"]).run();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let man = goat().args(["man"]).run().ok();
    for s in [".TH goat 1", ".SH \"GOAT FETCH\"", ".SH \"GOAT SEED\"", "\\-\\-metadata\\-timeout"] {
        assert!(man.stdout.contains(s), "man page lacks {s}");
    }
}
