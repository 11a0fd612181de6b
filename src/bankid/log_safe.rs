//! Text that came from BankID (or whoever answers at its address) made safe
//! to put in a log line: a plain-text log is a sequence of lines, so a
//! `details` string with a newline or a terminal escape could otherwise forge
//! entries or rewrite what an operator sees.

/// Longest `details` text kept from a BankID error body, in characters.
pub const MAX_DETAILS_CHARS: usize = 200;

/// `s` with backslash, control, line-separator and bidirectional-override
/// characters escaped (`\n`, `\u{1b}` …) and cut to `max_chars` characters of
/// input, marking a cut with `…`. The result is a single line.
pub fn escape_for_log(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars) + 8);
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// C0/C1 controls, Unicode line/paragraph separators (some viewers break
/// lines on them) and bidi controls (which reorder what is displayed).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_cannot_start_a_forged_log_line() {
        let forged = "bad\n2026-01-01T00:00:00Z  INFO fraudhub: admin logged in\r\n";
        let safe = escape_for_log(forged, 200);
        assert!(!safe.contains('\n') && !safe.contains('\r'), "{safe}");
        assert_eq!(
            safe,
            "bad\\n2026-01-01T00:00:00Z  INFO fraudhub: admin logged in\\r\\n"
        );
    }

    #[test]
    fn terminal_escapes_and_bidi_overrides_are_escaped() {
        assert_eq!(escape_for_log("\u{1b}[2J", 50), "\\u{1b}[2J");
        assert_eq!(escape_for_log("a\u{202e}b", 50), "a\\u{202e}b");
        assert_eq!(escape_for_log("a\u{2028}b\u{85}", 50), "a\\u{2028}b\\u{85}");
        assert_eq!(escape_for_log("tab\there\0", 50), "tab\\there\\u{0}");
    }

    #[test]
    fn backslashes_are_escaped_so_escapes_cannot_be_faked() {
        assert_eq!(escape_for_log(r"a\nb", 50), r"a\\nb");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let long = "é".repeat(1000);
        let safe = escape_for_log(&long, 10);
        assert_eq!(safe, format!("{}…", "é".repeat(10)));
        assert_eq!(escape_for_log("exactly10!", 10), "exactly10!");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        let text = "Order already in progress for pno — försök igen";
        assert_eq!(escape_for_log(text, 200), text);
    }
}
