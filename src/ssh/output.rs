//! Bounded capture of a command's output: the first and last bytes, exact byte counts.
//!
//! Memory stays at `limit` bytes per stream whatever the command prints. When the output
//! fits, it is kept whole; when it does not, the first half of the budget holds the head,
//! the second half a ring of the most recent bytes, and rendering puts a marker between
//! them saying how many bytes were left out.

use std::collections::VecDeque;

/// Head-and-tail capture of one stream.
#[derive(Debug, Clone)]
pub struct Capture {
    head_cap: usize,
    tail_cap: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Capture {
    /// Keeps at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        let head_cap = limit - limit / 2;
        Self {
            head_cap,
            tail_cap: limit / 2,
            head: Vec::with_capacity(head_cap.min(64 * 1024)),
            tail: VecDeque::new(),
            total: 0,
        }
    }

    /// Appends a chunk.
    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.head_cap.saturating_sub(self.head.len());
        if room > 0 {
            let (now, rest) = data.split_at(room.min(data.len()));
            self.head.extend_from_slice(now);
            data = rest;
        }
        if data.is_empty() || self.tail_cap == 0 {
            return;
        }
        if data.len() >= self.tail_cap {
            self.tail.clear();
            self.tail
                .extend(data.get(data.len() - self.tail_cap..).unwrap_or_default());
            return;
        }
        let overflow = (self.tail.len() + data.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(data);
    }

    /// Bytes kept in memory.
    pub fn kept(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Bytes the stream produced, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether bytes were left out.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    /// Bytes left out.
    pub fn omitted(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The kept bytes as text (invalid UTF-8 replaced by U+FFFD), with a marker where
    /// bytes were left out.
    pub fn render(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.truncated() {
            out.push_str(&format!(
                "\n[... {} bytes omitted: output exceeded the limit; raise max_output_bytes, or filter with head/tail/grep ...]\n",
                self.omitted()
            ));
        }
        let (a, b) = self.tail.as_slices();
        if b.is_empty() {
            out.push_str(&String::from_utf8_lossy(a));
        } else {
            let mut joined = Vec::with_capacity(a.len() + b.len());
            joined.extend_from_slice(a);
            joined.extend_from_slice(b);
            out.push_str(&String::from_utf8_lossy(&joined));
        }
        out
    }

    /// The last complete line seen, if any (for progress messages).
    pub fn last_line(&self) -> Option<String> {
        let bytes: Vec<u8> = if self.tail.is_empty() {
            self.head.clone()
        } else {
            self.tail.iter().copied().collect()
        };
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let start = trimmed
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = trimmed.get(start..)?;
        (!line.is_empty()).then(|| String::from_utf8_lossy(line).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_should_keep_everything_that_fits() {
        let mut c = Capture::new(10);
        c.push(b"hello");
        c.push(b"world");
        assert_eq!(c.render(), "helloworld");
        assert!(!c.truncated());
        assert_eq!(c.total(), 10);
    }

    #[test]
    fn capture_should_keep_head_and_tail_and_count_the_rest() {
        let mut c = Capture::new(10);
        for chunk in [&b"0123"[..], b"456789abc", b"def", b"ghij"] {
            c.push(chunk);
        }
        assert_eq!(c.total(), 20);
        assert_eq!(c.omitted(), 10);
        let r = c.render();
        assert!(r.starts_with("01234\n[... 10 bytes omitted"), "{r}");
        assert!(r.ends_with("...]\nfghij"), "{r}");
    }

    #[test]
    fn capture_should_handle_huge_chunks_and_zero_limits() {
        let mut c = Capture::new(4);
        c.push(&[b'x'; 1000]);
        c.push(b"END");
        assert_eq!(c.total(), 1003);
        assert!(c.render().ends_with("]\nxEND") || c.render().ends_with("]\nND"));
        let mut z = Capture::new(0);
        z.push(b"abc");
        assert_eq!(z.total(), 3);
        assert!(z.truncated());
    }

    #[test]
    fn capture_should_decode_invalid_utf8_lossily() {
        let mut c = Capture::new(100);
        c.push(&[b'a', 0xff, b'b']);
        assert_eq!(c.render(), "a\u{fffd}b");
    }

    #[test]
    fn last_line_should_skip_the_trailing_newline() {
        let mut c = Capture::new(100);
        c.push(b"one\ntwo\n");
        assert_eq!(c.last_line().as_deref(), Some("two"));
    }
}
