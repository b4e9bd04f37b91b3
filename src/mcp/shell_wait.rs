//! How the shell tools wait (on a pattern, on quiet, on exit, up to a timeout) and what a
//! read returns.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use regex_lite::{Regex, RegexBuilder};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::manager::shells::Shell;
use crate::mcp::shell_types::{Cursor, ShellResult, ViewName, WaitParams};
use crate::ssh::pty::Pty;
use crate::ssh::terminal::{UNREAD_LIMIT, View};

const DEFAULT_IDLE: Duration = Duration::from_millis(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_OUTPUT: usize = 16 * 1024;
/// Longest `wait_for` pattern, and the most memory its compiled form may take.
const MAX_PATTERN: usize = 1000;
const PATTERN_MEMORY: usize = 1 << 20;
/// A pattern whose compiled form fits in this is matched on the caller's task against text
/// up to [`INLINE_TEXT`] long (60 µs at worst, measured); any other match runs on a
/// blocking thread, which costs two thread switches per try.
const CHEAP_PATTERN: usize = 2 * 1024;
const INLINE_TEXT: usize = 256;
/// `wait_for` is matched against this much of the newest output: a pattern's cost grows
/// with the text times its size, and it runs again on every change.
const MATCH_WINDOW: usize = 64 * 1024;

/// The `wait_for` compiled last, and whether it is cheap: a model typing into a shell
/// mostly waits for the same prompt or echo, and compiling took a tenth of such a call's
/// own work. Shared, as a compiled pattern is the same whoever asks for it.
static LAST_PATTERN: Mutex<Option<(String, Arc<Regex>, bool)>> = Mutex::new(None);

fn compile(w: &str) -> Result<(Arc<Regex>, bool)> {
    let last = || LAST_PATTERN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((pattern, re, cheap)) = last().as_ref()
        && pattern == w
    {
        return Ok((re.clone(), *cheap));
    }
    let build = |limit| RegexBuilder::new(w).size_limit(limit).build();
    let (re, cheap) = match build(CHEAP_PATTERN) {
        Ok(re) => (re, true),
        Err(_) => (
            build(PATTERN_MEMORY).map_err(|e| {
                Error::InvalidArgument(format!("wait_for is not a valid regex: {e}"))
            })?,
            false,
        ),
    };
    let re = Arc::new(re);
    *last() = Some((w.to_string(), re.clone(), cheap));
    Ok((re, cheap))
}

/// How a call waits on a shell.
pub(super) struct Wait {
    pattern: Option<Arc<Regex>>,
    /// The pattern is small enough to be matched inline on short text.
    cheap: bool,
    idle: Duration,
    pub(super) timeout: Duration,
}

/// How the wait ended.
pub(super) struct Waited {
    matched: bool,
    idle: bool,
}

impl Wait {
    pub(super) fn from_params(p: &WaitParams) -> Result<Self> {
        let (pattern, cheap) = match p.wait_for.as_deref().filter(|w| !w.is_empty()) {
            Some(w) if w.len() > MAX_PATTERN => {
                return Err(Error::InvalidArgument(format!(
                    "wait_for is longer than {MAX_PATTERN} bytes"
                )));
            }
            Some(w) => {
                let (re, cheap) = compile(w)?;
                (Some(re), cheap)
            }
            None => (None, false),
        };
        let timeout = p
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
            .min(MAX_TIMEOUT);
        let idle = p
            .idle_ms
            .map_or(DEFAULT_IDLE, Duration::from_millis)
            .min(timeout);
        Ok(Self {
            pattern,
            cheap,
            idle,
            timeout,
        })
    }

    /// Waits until the pattern matches the new text (or, without one, until the output
    /// has been quiet for `idle`), the shell ends, `timeout` passes or the call is cancelled.
    pub(super) async fn run(&self, pty: &Pty, cancel: &CancellationToken) -> Result<Waited> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let mut changes = pty.changes();
        loop {
            changes.borrow_and_update();
            // Copied out first: the shell's reader must not wait on the match.
            let text = self
                .pattern
                .as_ref()
                .map(|_| pty.terminal().new_text(MATCH_WINDOW));
            if let (Some(re), Some(text)) = (&self.pattern, text)
                && matches(re, text, self.cheap).await
            {
                return Ok(Waited {
                    matched: true,
                    idle: false,
                });
            }
            if pty.exit().is_some() {
                return Ok(Waited {
                    matched: false,
                    idle: false,
                });
            }
            let now = Instant::now();
            let idle_at = pty.last_output().max(start) + self.idle;
            if self.pattern.is_none() && now >= idle_at {
                return Ok(Waited {
                    matched: false,
                    idle: true,
                });
            }
            if now >= deadline {
                return Ok(Waited {
                    matched: false,
                    idle: false,
                });
            }
            let wake = if self.pattern.is_none() {
                idle_at.min(deadline)
            } else {
                deadline
            };
            tokio::select! {
                r = changes.changed() => if r.is_err() {
                    // The shell's task is gone: its exit is recorded.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                },
                _ = tokio::time::sleep_until(wake) => {}
                _ = cancel.cancelled() => return Ok(Waited { matched: false, idle: false }),
            }
        }
    }
}

/// Whether `re` matches `text`: off the async workers unless the pattern is `cheap` and the
/// text short (a costly pattern takes a while).
async fn matches(re: &Arc<Regex>, text: String, cheap: bool) -> bool {
    if cheap && text.len() <= INLINE_TEXT {
        return re.is_match(&text);
    }
    let re = Arc::clone(re);
    tokio::task::spawn_blocking(move || re.is_match(&text))
        .await
        .unwrap_or(false)
}

/// The result of a read of `shell` with `p`'s view and limit.
pub(super) fn result(shell: &Shell, p: &WaitParams, waited: Waited) -> Result<ShellResult> {
    let max = p
        .max_output_bytes
        .unwrap_or(DEFAULT_MAX_OUTPUT)
        .min(UNREAD_LIMIT);
    let exit = shell.pty.exit();
    let mut terminal = shell.pty.terminal();
    let view = match view_of(p)? {
        Some(v) => v,
        None if terminal.alt_screen() => View::Screen,
        None => View::New,
    };
    let s = terminal.read(view, max);
    drop(terminal);
    let exit_fields = exit.clone().unwrap_or_default();
    Ok(ShellResult {
        shell_id: shell.id.clone(),
        output: s.output,
        view: match s.view {
            View::New => ViewName::New,
            View::Screen => ViewName::Screen,
            View::Scrollback => ViewName::Scrollback,
        },
        matched: waited.matched,
        idle: waited.idle,
        exited: exit.is_some(),
        exit_code: exit_fields.exit_code.map(i64::from),
        exit_signal: exit_fields.exit_signal,
        rows: s.rows,
        cols: s.cols,
        cursor: Cursor {
            row: s.cursor.0,
            col: s.cursor.1,
        },
        alt_screen: s.alt_screen,
        truncated: s.truncated,
        output_bytes: s.output_bytes,
    })
}

/// The view `p` names, if any.
pub(super) fn view_of(p: &WaitParams) -> Result<Option<View>> {
    Ok(match p.view.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("new") => Some(View::New),
        Some("screen") => Some(View::Screen),
        Some("scrollback") => Some(View::Scrollback),
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "unknown view {other:?}; use new, screen or scrollback"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_asked_for_again_should_not_be_compiled_again() {
        let (a, cheap) = compile("\\$ $").unwrap();
        assert!(cheap);
        let (again, _) = compile("\\$ $").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let (other, _) = compile(">>> $").unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        assert!(other.is_match("x\n>>> ") && !other.is_match("$ "));
        // A costly pattern is kept with its cost; a wrong one is refused each time.
        let (big, cheap) = compile("[a-z]{50}[0-9]{50}").unwrap();
        assert!(!cheap);
        let (_, cheap) = compile("[a-z]{50}[0-9]{50}").unwrap();
        assert!(!cheap && big.is_match(&format!("{}{}", "a".repeat(50), "1".repeat(50))));
        for _ in 0..2 {
            assert!(compile("(").is_err());
        }
    }
}
