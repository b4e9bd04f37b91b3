//! Terminal output as plain text: escape sequences removed, carriage-return overwrites and
//! backspaces applied, line by line (the `new` view of a shell).

/// The text of `bytes`, and how many bytes it took: an escape sequence or a UTF-8
/// character cut off at the end is left for the next call.
pub fn plain_text(bytes: &[u8]) -> (String, usize) {
    let mut out = String::new();
    let mut line: Vec<char> = Vec::new();
    let mut col = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let step = match b {
            0x1b => match escape_len(bytes.get(i..).unwrap_or_default()) {
                Some((len, erase_line)) => {
                    if erase_line {
                        line.truncate(col);
                    }
                    len
                }
                None => break,
            },
            b'\n' => {
                out.extend(line.drain(..));
                out.push('\n');
                col = 0;
                1
            }
            b'\r' => {
                col = 0;
                1
            }
            0x08 => {
                col = col.saturating_sub(1);
                1
            }
            b'\t' => {
                put(&mut line, &mut col, '\t');
                1
            }
            0..=0x1f | 0x7f => 1,
            _ => match char_at(bytes.get(i..).unwrap_or_default()) {
                Some((c, len)) => {
                    put(&mut line, &mut col, c);
                    len
                }
                None => break,
            },
        };
        i += step;
    }
    out.extend(line);
    (out, i)
}

/// Writes `c` at the cursor, over what is there.
fn put(line: &mut Vec<char>, col: &mut usize, c: char) {
    match line.get_mut(*col) {
        Some(slot) => *slot = c,
        None => {
            line.resize(*col, ' ');
            line.push(c);
        }
    }
    *col += 1;
}

/// The length of the escape sequence `s` starts with (`None`: cut off), and whether it
/// erases to the end of the line (`CSI K`).
fn escape_len(s: &[u8]) -> Option<(usize, bool)> {
    match s.get(1)? {
        b'[' => {
            let end = s.iter().skip(2).position(|b| (0x40..=0x7e).contains(b))? + 2;
            let params = s.get(2..end).unwrap_or_default();
            let erase = s.get(end) == Some(&b'K') && matches!(params, b"" | b"0");
            Some((end + 1, erase))
        }
        // OSC, DCS, SOS, PM, APC: up to BEL (OSC) or ST (ESC \).
        b']' | b'P' | b'X' | b'^' | b'_' => {
            let body = s.get(2..)?;
            let end = body
                .iter()
                .enumerate()
                .find(|(k, b)| **b == 0x07 || (**b == 0x1b && body.get(k + 1) == Some(&b'\\')))
                .map(|(k, b)| if *b == 0x07 { k + 1 } else { k + 2 })?;
            Some((end + 2, false))
        }
        // Character set designations: ESC ( B and the like.
        b'(' | b')' | b'*' | b'+' | b'#' | b'%' => s.get(2).map(|_| (3, false)),
        _ => Some((2, false)),
    }
}

/// The UTF-8 character `s` starts with and its length (`U+FFFD` for an invalid byte);
/// `None` when it is cut off.
fn char_at(s: &[u8]) -> Option<(char, usize)> {
    let len = match s.first()? {
        b if *b < 0x80 => 1,
        b if *b >= 0xf0 => 4,
        b if *b >= 0xe0 => 3,
        b if *b >= 0xc0 => 2,
        _ => return Some(('\u{fffd}', 1)),
    };
    let Some(bytes) = s.get(..len) else {
        // A character cut off at the end, unless what is there is already invalid.
        return match std::str::from_utf8(s) {
            Err(e) if e.error_len().is_some() => Some(('\u{fffd}', 1)),
            _ => None,
        };
    };
    match std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.chars().next())
    {
        Some(c) => Some((c, len)),
        None => Some(('\u{fffd}', 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &[u8]) -> String {
        plain_text(s).0
    }

    #[test]
    fn escapes_should_be_removed_and_overwrites_applied() {
        assert_eq!(text(b"\x1b[1;32mgreen\x1b[0m\r\n"), "green\n");
        assert_eq!(text(b"10%\r20%\r100%\n"), "100%\n");
        assert_eq!(text(b"abc\x08\x08X\n"), "aXc\n");
        assert_eq!(text(b"long line\r\x1b[Kshort\n"), "short\n");
        assert_eq!(text(b"\x1b]0;title\x07$ \x1b[?2004h"), "$ ");
        assert_eq!(text("h\u{e9}\n".as_bytes()), "h\u{e9}\n");
    }

    #[test]
    fn a_sequence_cut_off_should_be_left_for_later() {
        assert_eq!(plain_text(b"ok\x1b[1;3"), ("ok".into(), 2));
        assert_eq!(plain_text(b"ok\x1b]0;ti"), ("ok".into(), 2));
        assert_eq!(plain_text(&[b'a', 0xc3]), ("a".into(), 1));
        assert_eq!(plain_text(&[b'a', 0xff, b'b']), ("a\u{fffd}b".into(), 3));
    }
}
