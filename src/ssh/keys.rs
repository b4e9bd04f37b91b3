//! Named keys of `ssh_shell_send`, as the bytes a terminal sends for them.

use crate::error::{Error, Result};

/// The key names, for the error that answers an unknown one.
pub const KEY_NAMES: &str = "enter, tab, esc, backspace, delete, up, down, left, right, home, \
                             end, pgup, pgdn, f1 to f12, ctrl+<letter>, alt+<letter>";

/// The bytes of the key `name` (case-insensitive). `app_cursor`: the program asked for
/// application cursor keys (`ESC O A` instead of `ESC [ A`), as full-screen programs do.
pub fn key_bytes(name: &str, app_cursor: bool) -> Result<Vec<u8>> {
    bytes_of(&name.trim().to_ascii_lowercase(), app_cursor).ok_or_else(|| {
        Error::InvalidArgument(format!("unknown key {name:?}; valid keys: {KEY_NAMES}"))
    })
}

fn bytes_of(name: &str, app_cursor: bool) -> Option<Vec<u8>> {
    let arrow = |c: u8| {
        if app_cursor {
            vec![0x1b, b'O', c]
        } else {
            vec![0x1b, b'[', c]
        }
    };
    let bytes = match name {
        "enter" => vec![b'\r'],
        "tab" => vec![b'\t'],
        "esc" => vec![0x1b],
        "backspace" => vec![0x7f],
        "delete" => b"\x1b[3~".to_vec(),
        "up" => arrow(b'A'),
        "down" => arrow(b'B'),
        "right" => arrow(b'C'),
        "left" => arrow(b'D'),
        "home" => arrow(b'H'),
        "end" => arrow(b'F'),
        "pgup" => b"\x1b[5~".to_vec(),
        "pgdn" => b"\x1b[6~".to_vec(),
        other => match other.split_once('+') {
            Some(("ctrl", l)) => vec![letter(l)? & 0x1f],
            Some(("alt", l)) => vec![0x1b, letter(l)?],
            _ => function_key(other)?,
        },
    };
    Some(bytes)
}

/// The one ASCII letter of `s`.
fn letter(s: &str) -> Option<u8> {
    match s.as_bytes() {
        [c] if c.is_ascii_lowercase() => Some(*c),
        _ => None,
    }
}

/// `f1` to `f12`, as xterm sends them.
fn function_key(name: &str) -> Option<Vec<u8>> {
    let n: u8 = name.strip_prefix('f')?.parse().ok()?;
    let seq: &[u8] = match n {
        1 => b"\x1bOP",
        2 => b"\x1bOQ",
        3 => b"\x1bOR",
        4 => b"\x1bOS",
        5 => b"\x1b[15~",
        6 => b"\x1b[17~",
        7 => b"\x1b[18~",
        8 => b"\x1b[19~",
        9 => b"\x1b[20~",
        10 => b"\x1b[21~",
        11 => b"\x1b[23~",
        12 => b"\x1b[24~",
        _ => return None,
    };
    Some(seq.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_should_map_to_terminal_bytes() {
        assert_eq!(key_bytes("enter", false).unwrap(), b"\r");
        assert_eq!(key_bytes("ctrl+c", false).unwrap(), [3]);
        assert_eq!(key_bytes("CTRL+D", false).unwrap(), [4]);
        assert_eq!(key_bytes("alt+x", false).unwrap(), b"\x1bx");
        assert_eq!(key_bytes("up", false).unwrap(), b"\x1b[A");
        assert_eq!(key_bytes("up", true).unwrap(), b"\x1bOA");
        assert_eq!(key_bytes("f5", false).unwrap(), b"\x1b[15~");
    }

    #[test]
    fn unknown_keys_should_be_refused_naming_the_valid_ones() {
        for bad in ["ctrl+", "ctrl+cc", "f13", "f0", "meta+x", "ctrl+1", ""] {
            let e = key_bytes(bad, false).unwrap_err().to_string();
            assert!(e.contains("valid keys: enter"), "{bad}: {e}");
        }
    }
}
