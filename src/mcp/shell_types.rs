//! Parameters and results of the shell tools (`ssh_shell_*`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of `ssh_shell_open`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShellOpenParams {
    pub session_id: String,
    /// Run instead of the login shell.
    #[serde(default)]
    pub command: Option<String>,
    /// Default 40.
    #[serde(default)]
    pub rows: Option<u32>,
    /// Default 120.
    #[serde(default)]
    pub cols: Option<u32>,
    /// Default xterm-256color.
    #[serde(default)]
    pub term: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

/// How a read looked at the shell.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ViewName {
    New,
    Screen,
    Scrollback,
}

/// When a read returns and what it shows (shared by `ssh_shell_read` and `ssh_shell_send`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct WaitParams {
    /// new, screen or scrollback.
    #[serde(default)]
    pub view: Option<String>,
    /// Regex: return once the new text matches.
    #[serde(default)]
    pub wait_for: Option<String>,
    /// Else return after this much quiet (default 300).
    #[serde(default)]
    pub idle_ms: Option<u64>,
    /// Default 10000, max 60000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Default 16384.
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
}

/// Parameters of `ssh_shell_read`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShellReadParams {
    pub shell_id: String,
    #[serde(flatten)]
    pub wait: WaitParams,
}

/// Parameters of `ssh_shell_send`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShellSendParams {
    pub shell_id: String,
    /// Typed as is (no newline added).
    #[serde(default)]
    pub text: Option<String>,
    /// Pressed after text: enter, tab, esc, up, ctrl+c, f1, …
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// sudo: the server types the sudo password, then Enter.
    #[serde(default)]
    pub secret: Option<String>,
    /// Resize first (with cols).
    #[serde(default)]
    pub rows: Option<u32>,
    #[serde(default)]
    pub cols: Option<u32>,
    #[serde(flatten)]
    pub wait: WaitParams,
}

/// Parameters of `ssh_shell_close`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShellCloseParams {
    pub shell_id: String,
}

/// A cursor position (0-based).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cursor {
    pub row: u16,
    pub col: u16,
}

/// Result of `ssh_shell_open`, `ssh_shell_send` and `ssh_shell_read`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShellResult {
    pub shell_id: String,
    /// Text of the view (escape sequences removed; secrets shown as `<redacted>`).
    pub output: String,
    pub view: ViewName,
    /// `wait_for` matched.
    pub matched: bool,
    /// Returned because the output went quiet.
    pub idle: bool,
    /// The shell has ended.
    pub exited: bool,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub rows: u16,
    pub cols: u16,
    pub cursor: Cursor,
    /// A full-screen program uses the alternate screen.
    pub alt_screen: bool,
    /// Output was cut to `max_output_bytes`, or unread output was dropped.
    pub truncated: bool,
    /// Bytes of text the view had before the cut.
    pub output_bytes: u64,
}

/// Result of `ssh_shell_close`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShellCloseResult {
    pub shell_id: String,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
}

/// One open shell, in `ssh_list_sessions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShellSummary {
    pub shell_id: String,
    /// Null for the login shell.
    pub command: Option<String>,
    pub rows: u16,
    pub cols: u16,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub exited: bool,
}
