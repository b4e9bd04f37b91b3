//! ssh-mcp: a Model Context Protocol server that gives LLM agents real SSH.
//!
//! The library holds everything; the two binaries (`ssh-mcp` over Streamable HTTP,
//! `ssh-mcp-stdio` over stdin/stdout) only parse flags and pick a transport.
//!
//! # Layout
//!
//! - [`audit`]: the JSON Lines audit log.
//! - [`config`]: the operator's TOML config file (named hosts, policy, defaults).
//! - [`cli`]: flags shared by the two binaries, and the shutdown signal.
//! - [`clock`]: RFC 3339 timestamps for results and the audit log.
//! - [`error`]: the core [`Error`] type every layer below the tools returns.
//! - [`hex`]: lower-case hex for digests, ids and MAC tags.
//! - [`ids`]: unguessable identifiers.
//! - [`paths`]: `$HOME` and `~` expansion.
//! - [`secret`]: [`Secret`], a string that never prints itself.
//! - [`settings`]: operator settings (timeouts, limits, host-key policy), from flags and env.
//! - [`ssh`]: the SSH client: address parsing, host-key verification, algorithm
//!   preferences, authentication, command execution with bounded output, SFTP, port
//!   forwarding.
//! - [`jobs`]: background commands, polled with `ssh_job`.
//! - [`local_paths`]: where `local_path` arguments may point on this machine.
//! - [`manager`]: the registry of open SSH sessions, keyed by unguessable ids.
//! - [`policy`]: allowed hosts, credentials in arguments, command rules.
//! - [`mcp`]: the MCP tool layer: parameter and result types, tool handlers, asking the
//!   user to confirm unknown host keys, and the one mapping from core errors to tool
//!   results.
//! - [`http`]: the hardened Streamable HTTP front end (axum), used by `ssh-mcp`.
//! - [`logging`]: tracing to stderr with credential-bearing protocol dumps suppressed.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod hex;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod local_paths;
pub mod logging;
pub mod manager;
pub mod mcp;
pub mod paths;
pub mod policy;
pub mod secret;
pub mod settings;
pub mod ssh;

pub use error::{Error, Result};
pub use manager::SessionManager;
pub use mcp::SshMcp;
pub use secret::Secret;
pub use settings::Settings;
