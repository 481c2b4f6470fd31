//! Untrusted text on a terminal.
//!
//! Content types, encodings, goatfile names, magnet display names and torrent
//! file names come from the chain or from a torrent: anyone can write them.
//! Printed raw, they could move the cursor, rewrite earlier lines, set the
//! window title or reverse the reading direction (Unicode bidi overrides), and
//! a byte-wise truncation could split a character (a panic in Rust). Every
//! such string goes through [`printable`] before it reaches a terminal or a
//! log line. This module sits below every stage and imports nothing of goat.

/// Longest untrusted text shown on one line unless a caller asks for less.
pub const LINE: usize = 120;

/// `text` made safe for one terminal line: control characters (C0, DEL, C1),
/// bidi controls and other invisible format characters become `?`, and text
/// longer than `max_chars` characters is cut on a character boundary and
/// ends with `…`.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut n = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if n + 1 == max_chars && chars.peek().is_some() {
            out.push('…');
            return out;
        }
        if n >= max_chars {
            break;
        }
        out.push(if unsafe_char(c) { '?' } else { c });
        n += 1;
    }
    out
}

/// Longest message goat prints on one line (an error, a log line): long
/// enough for every message goat writes, short enough for a terminal.
pub const MESSAGE: usize = 2000;

/// A whole message (an error, a log line) made safe for one terminal
/// line: what [`printable`] does, with a message's limit.
pub fn message(text: &str) -> String {
    printable(text, MESSAGE)
}

/// [`printable`] with the default one-line limit.
pub fn line(text: &str) -> String {
    printable(text, LINE)
}

/// Bytes from the chain shown as text: invalid UTF-8 becomes U+FFFD, then
/// [`printable`].
pub fn printable_bytes(bytes: &[u8], max_chars: usize) -> String {
    printable(&String::from_utf8_lossy(bytes), max_chars)
}

/// Someone else's error message (a server's, a library's, YAML's) as one
/// line of at most `max_chars` characters: a backtrace anyhow appended is
/// dropped, runs of whitespace and line breaks become one space, and a
/// longer message is cut at a word (past its first half) with `…`. It is
/// not made printable here: that happens where it is shown.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let text = text.split("Stack backtrace:").next().unwrap_or(text);
    let s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max_chars {
        return s;
    }
    let cut: String = s.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(at) if cut[..at].chars().count() > max_chars / 2 => &cut[..at],
        _ => &cut[..],
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':']))
}

/// Characters that change how a terminal shows what follows them.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' // soft hyphen (invisible)
            | '\u{061C}' // Arabic letter mark (bidi)
            | '\u{200B}'..='\u{200F}' // zero-width, LRM/RLM
            | '\u{2028}' | '\u{2029}' // line/paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, bidi isolates, deprecated format controls
            | '\u{FEFF}' // BOM / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
            | '\u{E0000}'..='\u{E007F}' // tag characters (invisible)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_replaced() {
        assert_eq!(printable("a\x1b[2Jb\r\n\x07", 50), "a?[2Jb???");
        assert_eq!(printable("x\u{202E}txt.exe", 50), "x?txt.exe");
        assert_eq!(printable("\u{9b}31m", 50), "?31m");
    }

    #[test]
    fn other_peoples_messages_become_one_line() {
        assert_eq!(one_line("a\n  b\tc", 50), "a b c");
        assert_eq!(one_line("oops Stack backtrace: 0: at src/x.rs", 50), "oops");
        let long = "word, ".repeat(40);
        let cut = one_line(&long, 100);
        assert!(cut.chars().count() <= 101 && cut.ends_with("word…"), "{cut}");
        assert_eq!(one_line(&"x".repeat(30), 10), format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn truncates_on_character_boundaries() {
        // a multi-byte character across byte 25 (the `goat ls` panic)
        let ct = format!("{}é{}", "a".repeat(24), "b".repeat(10));
        let p = printable(&ct, 26);
        assert_eq!(p.chars().count(), 26);
        assert!(p.ends_with('…'));
        assert_eq!(printable("héllo", 5), "héllo");
        assert_eq!(printable("héllo!", 5), "héll…");
        assert_eq!(printable("", 5), "");
        assert_eq!(printable_bytes(b"\xff\xfeok", 10), "\u{FFFD}\u{FFFD}ok");
    }
}
