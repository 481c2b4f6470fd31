use super::*;

#[test]
fn a_full_disk_is_not_bad_metadata() {
    let msg = "error writing to file 0 (\"fat.bin\") Caused by: 0: error calling pwritev 1: ENOSPC: No space left on device Stack backtrace: 0: ext_context at /root/.cargo/src/path.rs";
    for e in [classify_add_error(msg), classify_torrent_error(msg)] {
        assert_eq!(e.kind, Kind::Io, "{}", e.message);
        assert!(e.message.contains("disk is full") && !e.message.contains("backtrace"), "{}", e.message);
    }
    assert_eq!(classify_add_error("invalid path component \"..\"").kind, Kind::InvalidData);
    // Typed: an io::Error in the chain decides, whatever the words say.
    let typed =
        anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull)).context("opening file \"a/b\" path");
    assert!(add_error(&typed).message.contains("disk is full"), "{}", add_error(&typed).message);
    let denied = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)).context("invalid path");
    assert_eq!(add_error(&denied).kind, Kind::Io);
    assert_eq!(classify_torrent_error("Permission denied (os error 13)").kind, Kind::Io);
}
