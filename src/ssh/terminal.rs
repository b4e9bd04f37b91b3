//! What a shell has shown: the emulated screen ([`vt100`]), the output no read collected
//! yet (bounded), and a bounded history, all with the shell's secrets scrubbed out.
//!
//! `vt100` over `avt`: both are maintained and cost about the same in the release binary
//! (about 58 KB against 62 KB in a size-optimised build), but `vt100` takes bytes (a
//! character split across packets is its concern) and allocates the alternate screen
//! only when a program uses it. Its scrollback is not used: the history is kept as bytes,
//! which costs nothing while a shell is idle.

use std::collections::VecDeque;
use std::num::NonZeroU16;

use crate::secret::Secret;
use crate::ssh::output::Capture;
use crate::ssh::plain_text::plain_text;
use crate::ssh::scrub::Scrubber;

/// Output kept for the next read, at most; past it the oldest is dropped.
pub const UNREAD_LIMIT: usize = 1024 * 1024;
/// History kept for the `scrollback` view.
pub const HISTORY_LIMIT: usize = 256 * 1024;
/// Largest terminal size accepted, either way.
pub const MAX_SIZE: u16 = 1000;
/// Most cells (rows × cols) accepted: each takes 32 bytes, twice with the alternate screen.
pub const MAX_CELLS: u32 = 100_000;

/// How a read looks at the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The text written since the previous `New` read (consumed by the read).
    New,
    /// The rendered screen.
    Screen,
    /// The last part of the history.
    Scrollback,
}

/// What one read returns.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub output: String,
    pub view: View,
    pub truncated: bool,
    /// Bytes of text the view had before `max_output_bytes` applied.
    pub output_bytes: u64,
    pub rows: u16,
    pub cols: u16,
    pub cursor: (u16, u16),
    pub alt_screen: bool,
}

/// The emulated terminal of one shell and its output buffers.
pub struct Terminal {
    parser: vt100::Parser,
    scrubber: Scrubber,
    unread: VecDeque<u8>,
    /// Bytes dropped from `unread` since the previous `New` read.
    dropped: u64,
    history: VecDeque<u8>,
}

/// A size within `1..=MAX_SIZE`.
fn dim(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.clamp(1, MAX_SIZE)).unwrap_or(NonZeroU16::MIN)
}

impl Terminal {
    pub fn new(rows: u16, cols: u16) -> Self {
        Self {
            parser: vt100::Parser::new(dim(rows), dim(cols), 0),
            scrubber: Scrubber::default(),
            unread: VecDeque::new(),
            dropped: 0,
            history: VecDeque::new(),
        }
    }

    /// Scrubs `secret` from all output from now on.
    pub fn add_secret(&mut self, secret: &Secret) {
        self.scrubber.add(secret);
    }

    /// Takes output from the shell.
    pub fn push(&mut self, data: &[u8]) {
        let clean = self.scrubber.push(data);
        self.take_in(&clean);
    }

    /// The shell ended: what the scrubber held back is output after all.
    pub fn finish(&mut self) {
        let rest = self.scrubber.finish();
        self.take_in(&rest);
    }

    fn take_in(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.parser.process(data);
        append_bounded(&mut self.unread, data, UNREAD_LIMIT, &mut self.dropped);
        append_bounded(&mut self.history, data, HISTORY_LIMIT, &mut 0);
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(dim(rows), dim(cols));
    }

    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser.screen().size();
        (r.get(), c.get())
    }

    pub fn alt_screen(&self) -> bool {
        self.parser.screen().alternate_screen()
    }

    /// The program asked for application cursor keys.
    pub fn app_cursor(&self) -> bool {
        self.parser.screen().application_cursor()
    }

    /// The text of the last `window` bytes written since the previous `New` read, without
    /// taking it (what `wait_for` is matched against: a bounded cost per change).
    pub fn new_text(&self, window: usize) -> String {
        let skip = self.unread.len().saturating_sub(window);
        let tail: Vec<u8> = self.unread.iter().skip(skip).copied().collect();
        self.scrubber.scrub_text(plain_text(&tail).0)
    }

    /// The view asked for, at most `max` bytes of it; a `New` read takes the text it shows.
    pub fn read(&mut self, view: View, max: usize) -> Snapshot {
        let (rows, cols) = self.size();
        let (row, col) = self.parser.screen().cursor_position();
        let (output, truncated, output_bytes) = match view {
            View::New => {
                let all: Vec<u8> = self.unread.iter().copied().collect();
                let (text, used) = plain_text(&all);
                self.unread.drain(..used.min(self.unread.len()));
                let dropped = std::mem::take(&mut self.dropped);
                let mut capture = Capture::new(max);
                capture.push(text.as_bytes());
                let mut out = capture.render();
                if dropped > 0 {
                    out = format!(
                        "[... {dropped} bytes dropped: output no read collected passed {} KiB ...]\n{out}",
                        UNREAD_LIMIT / 1024
                    );
                }
                (out, dropped > 0 || capture.truncated(), capture.total())
            }
            View::Screen => {
                let mut lines: Vec<String> = self
                    .parser
                    .screen()
                    .rows(0, cols)
                    .map(|l| l.trim_end().to_string())
                    .collect();
                while lines.last().is_some_and(String::is_empty) {
                    lines.pop();
                }
                bounded_tail(lines.join("\n"), max)
            }
            View::Scrollback => {
                let all: Vec<u8> = self.history.iter().copied().collect();
                bounded_tail(plain_text(&all).0, max)
            }
        };
        Snapshot {
            output: self.scrubber.scrub_text(output),
            view,
            truncated,
            output_bytes,
            rows,
            cols,
            cursor: (row, col),
            alt_screen: self.alt_screen(),
        }
    }
}

/// The last `max` bytes of `text` (at a character boundary), whether it was cut, and its
/// length.
fn bounded_tail(text: String, max: usize) -> (String, bool, u64) {
    let len = text.len();
    if len <= max {
        return (text, false, len as u64);
    }
    let mut start = len - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (
        text.get(start..).unwrap_or_default().to_string(),
        true,
        len as u64,
    )
}

/// Appends `data`, dropping the oldest bytes past `limit` and counting them in `dropped`.
fn append_bounded(buf: &mut VecDeque<u8>, data: &[u8], limit: usize, dropped: &mut u64) {
    let data = match data.len().checked_sub(limit) {
        Some(skip) => {
            *dropped += (skip + buf.len()) as u64;
            buf.clear();
            data.get(skip..).unwrap_or_default()
        }
        None => data,
    };
    let over = (buf.len() + data.len()).saturating_sub(limit);
    buf.drain(..over);
    *dropped += over as u64;
    buf.extend(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_and_new_text_should_follow_the_output() {
        let mut t = Terminal::new(5, 20);
        t.push(b"hello\r\n\x1b[1mworld\x1b[0m");
        let s = t.read(View::Screen, 1000);
        assert_eq!(s.output, "hello\nworld");
        assert_eq!(s.cursor, (1, 5));
        assert_eq!(t.new_text(1000), "hello\nworld");
        assert_eq!(t.new_text(15), "\nworld");
        let n = t.read(View::New, 1000);
        assert_eq!(n.output, "hello\nworld");
        assert_eq!(t.read(View::New, 1000).output, "");
        t.push(b"\x1b[?1049h\x1b[Hfull");
        assert!(t.alt_screen());
        assert_eq!(t.read(View::Screen, 1000).output, "full");
    }

    #[test]
    fn unread_output_should_stay_bounded_and_say_what_was_dropped() {
        let mut t = Terminal::new(5, 20);
        for _ in 0..3 {
            t.push(&vec![b'x'; UNREAD_LIMIT / 2 + 1]);
        }
        let n = t.read(View::New, 100);
        assert!(n.truncated);
        assert!(
            n.output.starts_with("[... 524291 bytes dropped"),
            "{}",
            &n.output[..80]
        );
        assert!(n.output.len() < 400);
        assert_eq!(t.unread.len(), 0);
    }

    #[test]
    fn secrets_should_not_reach_any_view() {
        let mut t = Terminal::new(5, 40);
        t.add_secret(&Secret::new("s3cr3t-pw"));
        t.push(b"echo: s3c");
        t.push(b"r3t-pw\r\n");
        for v in [View::Screen, View::Scrollback, View::New] {
            let out = t.read(v, 1000).output;
            assert!(
                out.contains("echo: <redacted>") && !out.contains("s3c"),
                "{out}"
            );
        }
    }

    #[test]
    fn a_secret_drawn_with_escapes_between_its_characters_should_not_show() {
        let mut t = Terminal::new(5, 40);
        t.add_secret(&Secret::new("s3cr3t-pw"));
        t.push(b"s3c\x1b[31mr3t\x1b[0m-pw\r\ns3cr3t-p\x1b[1Dpw\r\n");
        assert!(!t.new_text(1000).contains("s3cr3t-pw"));
        for v in [View::Screen, View::Scrollback, View::New] {
            let out = t.read(v, 1000).output;
            assert!(!out.contains("s3cr3t-pw"), "{v:?}: {out}");
        }
    }
}
