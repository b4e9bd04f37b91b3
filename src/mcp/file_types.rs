//! Parameters and results of the file tools (`ssh_upload`, `ssh_download`, `ssh_list_dir`).
//! Field docs become the JSON Schema descriptions the model reads.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of `ssh_upload`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadParams {
    /// From `ssh_connect`.
    pub session_id: String,
    /// Destination (relative: from the remote home).
    pub remote_path: String,
    /// Text to write (at most 1 MiB).
    #[serde(default)]
    pub content: Option<String>,
    /// Or a file on the server's machine (absolute path, any size).
    #[serde(default)]
    pub local_path: Option<String>,
    /// Octal permissions, e.g. `0644` (default: the replaced file's, else 0644).
    #[serde(default)]
    pub mode: Option<String>,
    /// Replace an existing file (default false).
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Compute SHA-256 (default true).
    #[serde(default)]
    pub checksum: Option<bool>,
    /// Hash the file on the remote side afterwards and compare (default true).
    #[serde(default)]
    pub verify: Option<bool>,
}

/// Result of `ssh_upload`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadResult {
    pub remote_path: String,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the bytes written, hex (absent with `checksum: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub duration_ms: u64,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
    #[serde(flatten)]
    pub check: Verification,
}

/// Parameters of `ssh_download`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DownloadParams {
    /// From `ssh_connect`.
    pub session_id: String,
    /// Remote file.
    pub remote_path: String,
    /// Save it here (absolute path on the server's machine) instead of returning `content`.
    #[serde(default)]
    pub local_path: Option<String>,
    /// Read at most this many bytes (`content`: default 256 KiB, at most 4 MiB).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Replace an existing `local_path` (default false).
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Compute SHA-256 (default true).
    #[serde(default)]
    pub checksum: Option<bool>,
    /// Hash the file on the remote side afterwards and compare (default true).
    #[serde(default)]
    pub verify: Option<bool>,
}

/// Result of `ssh_download`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DownloadResult {
    pub remote_path: String,
    /// Where the file was saved, with `local_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// The file's text, without `local_path` (invalid UTF-8 replaced by U+FFFD; see `lossy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `content` is not exactly the file: it was not valid UTF-8.
    pub lossy: bool,
    /// Bytes read.
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Fewer bytes were read than the file holds (`max_bytes`).
    pub truncated: bool,
    /// SHA-256 of the bytes read, hex (absent with `checksum: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub duration_ms: u64,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
    #[serde(flatten)]
    pub check: Verification,
}

/// What checking a transfer against the remote file's own hash found (part of the
/// upload and download results).
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Verification {
    /// SHA-256 of the remote file as the remote side computed it, after the transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_sha256: Option<String>,
    /// True when `remote_sha256` equals `sha256` (a difference is an error); null when it
    /// could not be checked (see `verify_note`).
    pub verified: Option<bool>,
    /// Why the transfer could not be verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_note: Option<String>,
}

/// Parameters of `ssh_list_dir`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListDirParams {
    /// From `ssh_connect`.
    pub session_id: String,
    /// Remote directory (`.`: the remote home).
    pub path: String,
    /// Entries returned at most (default 1000).
    #[serde(default)]
    pub max_entries: Option<usize>,
}

/// Result of `ssh_list_dir`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListDirResult {
    pub path: String,
    /// Entries sorted by name (without `.` and `..`).
    pub entries: Vec<DirEntryResult>,
    /// More entries exist than were returned.
    pub truncated: bool,
    /// The session's connection had died and was reopened for this call.
    pub reconnected: bool,
}

/// One directory entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DirEntryResult {
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    /// Permission bits in octal, e.g. `0644`.
    pub mode: String,
    /// Modification time, RFC 3339 UTC.
    pub mtime: Option<String>,
}
