//! A lying or failing server: retries, Retry-After, failover, verification.

use crate::harness::*;
use goat::devchain::server::Fault;
use std::time::Duration;

#[test]
fn server_error_then_success() {
    let (s, addr) = published();
    let h = s.serve();
    h.state.arm("/address/", Fault::Status(500), 2);
    let out = goat().esplora(&h.url).args(["-v", "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"));
    let statuses: Vec<u16> =
        h.state.requests().iter().filter(|r| r.path.contains("/address/")).map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    assert!(out.stderr.contains("2 retries"), "{}", out.stderr);
}

#[test]
fn rate_limit_honours_retry_after() {
    let (s, addr) = published();
    let h = s.serve();
    h.state.arm("/address/", Fault::RateLimit { retry_after_secs: 2 }, 1);
    goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    let log: Vec<_> = h.state.requests().into_iter().filter(|r| r.path.contains("/address/")).collect();
    assert_eq!(log[0].status, 429);
    assert_eq!(log[1].status, 200);
    // the client waited at least what the server asked (a lower bound only)
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(1900));
}

#[test]
fn truncated_body_is_retried_and_persistent_truncation_fails() {
    let (s, addr) = published();
    let h = s.serve();
    h.state.arm("/raw", Fault::Truncate, 1);
    goat().esplora(&h.url).args(["resolve", &addr]).run().ok();
    h.state.arm("/address/", Fault::Truncate, 100);
    goat().esplora(&h.url).args(["--retries", "2", "resolve", &addr]).run().fails(4, "no Esplora server answered");
}

#[test]
fn tx_bytes_that_do_not_hash_to_the_txid_are_refused() {
    let (s, addr) = published();
    let h = s.serve();
    h.state.arm("/raw", Fault::WrongTxBytes, 100);
    goat().esplora(&h.url).args(["resolve", &addr]).run().fails(5, "do not hash to");

    // with an honest second server goat fails over and succeeds; the
    // devchain is deterministic, so both servers hold the same chain
    let (liars_chain, addr) = published();
    let liar = liars_chain.serve();
    liar.state.arm("/raw", Fault::WrongTxBytes, 100);
    let (honest_chain, addr2) = published();
    assert_eq!(addr, addr2, "devchain is deterministic");
    let honest = honest_chain.serve();
    let out = goat().args(["--esplora", &liar.url, "--esplora", &honest.url, "-v", "resolve", &addr]).run().ok();
    assert!(out.stdout.contains("name: model"));
    assert!(out.stderr.contains("failing over"), "{}", out.stderr);
}

#[test]
fn timeouts_and_dead_servers_fail_over() {
    let (s, addr) = published();
    let h = s.serve();
    // a port with nobody listening
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // with a second live server, the dead one is failed over (with only
    // one live server, its proof would have no confirmation: trust.rs)
    let (s2, _) = published();
    let h2 = s2.serve();
    let out = goat()
        .args(["--esplora", &dead, "--esplora", &h.url, "--esplora", &h2.url, "--retries", "1", "resolve", &addr])
        .run()
        .ok();
    assert!(out.stdout.contains("name: model"));

    h.state.arm("/address/", Fault::Delay(Duration::from_secs(5)), 100);
    goat()
        .esplora(&h.url)
        .args(["--timeout", "1", "--retries", "2", "resolve", &addr])
        .run()
        .fails(4, "did not answer within");
}

/// An HTTPS endpoint must fail cleanly (no TLS provider panic).
#[test]
fn https_path_does_not_panic() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        // accept one connection, answer garbage to the TLS hello, close
        l.set_nonblocking(false).unwrap();
        if let Ok((mut c, _)) = l.accept() {
            use std::io::Write;
            let _ = c.write_all(b"HTTP/1.1 400 nope\r\n\r\n");
        }
    });
    goat()
        .args(["--esplora", &format!("https://127.0.0.1:{port}"), "--retries", "1", "--timeout", "3"])
        .args(["cat", &"ab".repeat(32)])
        .run()
        .fails(4, "no Esplora server answered");
    let _ = t.join();
}

/// When every server fails, one line names each server and its cause,
/// whole: no reqwest chain cut mid-word, exit 4.
#[test]
fn every_dead_server_is_named_with_its_cause_on_one_line() {
    let (_s, addr) = published();
    let dead = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (a, b) = (dead(), dead());
    let electrum = format!("tcp://127.0.0.1:{}", free_port());
    for args in [vec!["--esplora", &a, "--esplora", &b], vec!["--esplora", &a, "--electrum", &electrum]] {
        let out = goat().args(&args).args(["--retries", "1", "resolve", &addr]).run().fails(4, " server answered: ");
        let line = out.stderr.lines().find(|l| l.starts_with("goat: error:")).unwrap().to_string();
        assert!(line.contains(&format!("{a} refused the connection")), "{line}");
        let other = if args[2] == "--electrum" { &electrum } else { &b };
        assert!(line.contains(&format!("{other} refused the connection")), "{line}");
        assert!(!line.contains("os error") && !line.contains("error sending request"), "{line}");
        assert_eq!(out.stderr.lines().count(), 1, "one line, no warnings before it: {}", out.stderr);
    }
}
