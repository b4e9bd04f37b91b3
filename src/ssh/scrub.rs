//! Removing secrets from a byte stream that arrives in pieces.
//!
//! A secret the server typed into a shell may come back (a program echoes it), whole or
//! split across two packets. [`Scrubber`] replaces every occurrence with `<redacted>` and
//! holds back a tail that could be the start of one until the next piece decides.

use std::time::Duration;

use crate::secret::Secret;
use crate::ssh::exec::OutputSink;

/// What a secret is replaced with.
pub const REDACTED: &[u8] = b"<redacted>";

/// Replaces the secrets it knows in the bytes passed through it.
#[derive(Default, Clone)]
pub struct Scrubber {
    secrets: Vec<Secret>,
    /// The first bytes of the secrets: where one could start.
    firsts: Vec<u8>,
    /// Bytes not decided yet, waiting for what follows.
    held: Vec<u8>,
    /// Hold back the last bytes of the stream that a secret could still cover, whatever
    /// they are (see [`Scrubber::holding_tail`]).
    hold_tail: bool,
}

impl Scrubber {
    /// A scrubber that always holds back the stream's last bytes a secret could still
    /// cover (one less than the longest secret), not only those that begin one: when output
    /// shows up then depends on whole secrets only, so reading a stream as it grows cannot
    /// tell a guess that begins the secret from one that does not. For output read as a
    /// whole at the end (commands); a terminal must show a prompt at once.
    pub fn holding_tail() -> Self {
        Self {
            hold_tail: true,
            ..Self::default()
        }
    }

    /// Adds a secret to remove (the empty one and known ones are ignored).
    pub fn add(&mut self, secret: &Secret) {
        let bytes = secret.expose().as_bytes();
        let Some(&first) = bytes.first() else {
            return;
        };
        if !self.secrets.iter().any(|s| s.expose() == secret.expose()) {
            self.secrets.push(secret.clone());
            // Longest first: of two secrets where one begins the other, the whole longer
            // one is removed, not the shorter one leaving the longer one's tail.
            self.secrets
                .sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
            if !self.firsts.contains(&first) {
                self.firsts.push(first);
            }
        }
    }

    /// Whether any secret is known.
    pub fn is_active(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The next piece of the stream, scrubbed; a tail that may start a secret is held.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return data.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(data);
        // Positions from `decided_to` on wait for more bytes when holding the tail.
        let longest = self
            .secrets
            .iter()
            .map(|s| s.expose().len())
            .max()
            .unwrap_or(0);
        let decided_to = if self.hold_tail {
            buf.len().saturating_sub(longest.saturating_sub(1))
        } else {
            buf.len()
        };
        let (out, held) = self.scan(&buf, decided_to, false);
        self.held = held;
        out
    }

    /// What is held back, scrubbed and released at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        let (mut out, rest) = self.scan(&held, held.len(), true);
        out.extend_from_slice(&rest);
        out
    }

    /// Scrubs `buf` from its start up to position `to`; returns the output and what is
    /// left undecided (from `to`, or from where a secret may be cut short). `at_end`: no
    /// more bytes follow, so nothing waits for them.
    fn scan(&self, buf: &[u8], to: usize, at_end: bool) -> (Vec<u8>, Vec<u8>) {
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < to {
            let rest = buf.get(i..).unwrap_or_default();
            let window = rest.get(..to - i).unwrap_or(rest);
            // Bytes that start no secret pass in one copy.
            let skip = self.next_start(window).unwrap_or(window.len());
            out.extend_from_slice(rest.get(..skip).unwrap_or_default());
            i += skip;
            let Some(rest) = buf.get(i..).filter(|_| i < to) else {
                break;
            };
            // A secret cut short by the end of what arrived waits for the rest, even where
            // a shorter one is whole: the longer one may still complete.
            if !at_end && self.starts_one(rest) {
                break;
            } else if let Some(len) = self.whole_at(rest) {
                out.extend_from_slice(REDACTED);
                i += len;
            } else {
                out.extend_from_slice(rest.get(..1).unwrap_or_default());
                i += 1;
            }
        }
        let held = buf.get(i.min(buf.len())..).unwrap_or_default().to_vec();
        (out, held)
    }

    /// `text` with every secret replaced, for text a terminal rendered: escape sequences
    /// between a secret's characters (colours, cursor moves) hide it from [`Self::push`]
    /// but not from this. `<redacted>` already there is kept as is.
    pub fn scrub_text(&self, text: String) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(Secret::expose).collect();
        let marker = String::from_utf8_lossy(REDACTED);
        if !secrets.iter().any(|s| text.contains(s)) {
            return text;
        }
        text.split(marker.as_ref())
            .map(|piece| {
                secrets.iter().fold(piece.to_string(), |p, s| {
                    if s.is_empty() {
                        p
                    } else {
                        p.replace(s, &marker)
                    }
                })
            })
            .collect::<Vec<_>>()
            .join(&marker)
    }

    /// Where in `bytes` a secret could first start.
    fn next_start(&self, bytes: &[u8]) -> Option<usize> {
        match *self.firsts.as_slice() {
            [a] => memchr::memchr(a, bytes),
            [a, b] => memchr::memchr2(a, b, bytes),
            [a, b, c] => memchr::memchr3(a, b, c, bytes),
            _ => bytes.iter().position(|b| self.firsts.contains(b)),
        }
    }

    /// The length of the longest secret `rest` starts with.
    fn whole_at(&self, rest: &[u8]) -> Option<usize> {
        self.secrets
            .iter()
            .map(|s| s.expose().as_bytes())
            .find(|s| rest.starts_with(s))
            .map(<[u8]>::len)
    }

    /// Whether `rest` is the beginning of a secret, cut short.
    fn starts_one(&self, rest: &[u8]) -> bool {
        self.secrets
            .iter()
            .map(|s| s.expose().as_bytes())
            .any(|s| rest.len() < s.len() && s.starts_with(rest))
    }
}

/// An [`OutputSink`] that passes a command's output on with secrets removed, each stream
/// on its own. [`ScrubbedSink::finish`] releases what is held back at the end.
pub struct ScrubbedSink<'a> {
    inner: &'a mut dyn OutputSink,
    out: Scrubber,
    err: Scrubber,
}

impl<'a> ScrubbedSink<'a> {
    pub fn new(inner: &'a mut dyn OutputSink, secrets: &[Secret]) -> Self {
        let mut out = Scrubber::holding_tail();
        for s in secrets {
            out.add(s);
        }
        let err = out.clone();
        Self { inner, out, err }
    }

    /// Passes on the tails held back (they did not turn out to be secrets).
    pub fn finish(&mut self) {
        let (out, err) = (self.out.finish(), self.err.finish());
        if !out.is_empty() {
            self.inner.stdout(&out);
        }
        if !err.is_empty() {
            self.inner.stderr(&err);
        }
    }
}

impl OutputSink for ScrubbedSink<'_> {
    fn stdout(&mut self, data: &[u8]) {
        let clean = self.out.push(data);
        if !clean.is_empty() {
            self.inner.stdout(&clean);
        }
    }

    fn stderr(&mut self, data: &[u8]) {
        let clean = self.err.push(data);
        if !clean.is_empty() {
            self.inner.stderr(&clean);
        }
    }

    fn tick(&mut self, elapsed: Duration) {
        self.inner.tick(elapsed);
    }

    fn started(&mut self) {
        self.inner.started();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(pieces: &[&str]) -> String {
        let mut s = Scrubber::default();
        s.add(&Secret::new("hunter2"));
        let mut out = Vec::new();
        for p in pieces {
            out.extend(s.push(p.as_bytes()));
        }
        out.extend(s.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_secret_should_be_redacted_whole_or_split() {
        assert_eq!(
            scrub(&["say hunter2 twice hunter2\n"]),
            "say <redacted> twice <redacted>\n"
        );
        assert_eq!(scrub(&["say hun", "ter2!"]), "say <redacted>!");
        assert_eq!(scrub(&["h", "u", "n", "t", "e", "r", "2"]), "<redacted>");
        assert_eq!(scrub(&["hunt", "ing hunte"]), "hunting hunte");
        assert_eq!(scrub(&["hhunter2"]), "h<redacted>");
    }

    #[test]
    fn rendered_text_should_be_scrubbed_without_touching_the_marker() {
        let mut s = Scrubber::default();
        s.add(&Secret::new("a"));
        let once = String::from_utf8(s.push(b"a cat")).unwrap();
        assert_eq!(once, "<redacted> c<redacted>t");
        assert_eq!(s.scrub_text(once.clone()), once);
        let mut s = Scrubber::default();
        s.add(&Secret::new("hunter2"));
        assert_eq!(
            s.scrub_text("x hunter2 <redacted>".into()),
            "x <redacted> <redacted>"
        );
    }

    #[derive(Default)]
    struct Collect(Vec<u8>, Vec<u8>);

    impl OutputSink for Collect {
        fn stdout(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
        fn stderr(&mut self, data: &[u8]) {
            self.1.extend_from_slice(data);
        }
    }

    #[test]
    fn a_sink_should_scrub_each_stream_and_release_held_tails() {
        let mut c = Collect::default();
        let secrets = [Secret::new("hunter2")];
        let mut s = ScrubbedSink::new(&mut c, &secrets);
        s.stdout(b"pw: hun");
        s.stderr(b"hunt");
        s.stdout(b"ter2\nend hu");
        s.finish();
        assert_eq!(c.0, b"pw: <redacted>\nend hu");
        assert_eq!(c.1, b"hunt");
    }

    #[test]
    fn a_held_tail_should_wait_for_the_next_piece() {
        let mut s = Scrubber::default();
        s.add(&Secret::new("hunter2"));
        assert_eq!(s.push(b"ok hun"), b"ok ");
        assert_eq!(s.push(b"gry"), b"hungry");
    }

    /// However the stream is cut, both modes give what replacing every whole secret in the
    /// whole text gives.
    #[test]
    fn any_cutting_should_give_the_same_output_in_both_modes() {
        let text = "hunter hunter2 hhunter22 hunte r2 hunter2hunter2 end hunt".repeat(3);
        let want = text.replace("hunter2", "<redacted>");
        for hold in [false, true] {
            for step in 1..=9 {
                let mut s = if hold {
                    Scrubber::holding_tail()
                } else {
                    Scrubber::default()
                };
                s.add(&Secret::new("hunter2"));
                let mut out = Vec::new();
                for piece in text.as_bytes().chunks(step) {
                    out.extend(s.push(piece));
                }
                out.extend(s.finish());
                assert_eq!(String::from_utf8(out).unwrap(), want, "{hold} {step}");
            }
        }
    }

    /// Holding the tail, what is shown of a growing stream does not depend on whether its
    /// end begins the secret.
    #[test]
    fn a_held_tail_should_not_tell_a_prefix_of_the_secret() {
        let shown = |end: &str| {
            let mut s = Scrubber::holding_tail();
            s.add(&Secret::new("hunter2"));
            s.push(format!("0123456789{end}").as_bytes())
        };
        assert_eq!(shown("hun"), b"0123456");
        assert_eq!(shown("abc"), b"0123456");
        assert_eq!(shown("hunter"), shown("abcdef"));
    }

    /// Of two secrets where one begins the other, the longer is removed whole, however the
    /// stream is cut; a whole secret is removed at the end even where a longer one could
    /// have begun.
    #[test]
    fn the_longest_secret_should_win_and_the_end_should_be_scrubbed() {
        for hold in [false, true] {
            for order in [["hunter", "hunter2"], ["hunter2", "hunter"]] {
                for cut in 1..=8 {
                    let mut s = if hold {
                        Scrubber::holding_tail()
                    } else {
                        Scrubber::default()
                    };
                    for secret in order {
                        s.add(&Secret::new(secret));
                    }
                    let text = b"a hunter2 b hunter";
                    let mut out = Vec::new();
                    for piece in text.chunks(cut) {
                        out.extend(s.push(piece));
                    }
                    out.extend(s.finish());
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        "a <redacted> b <redacted>",
                        "{hold} {order:?} {cut}"
                    );
                }
            }
        }
        let mut s = Scrubber::default();
        s.add(&Secret::new("hunter2"));
        s.add(&Secret::new("ter"));
        let mut out = s.push(b"xx hunter");
        out.extend(s.finish());
        assert_eq!(out, b"xx hun<redacted>");
        assert_eq!(s.scrub_text("hunter2".into()), "<redacted>");
    }
}
