//! ssh-mcp: a Model Context Protocol server that gives LLM agents real SSH.
//!
//! The library holds everything; the two binaries (`ssh-mcp` over Streamable HTTP,
//! `ssh-mcp-stdio` over stdin/stdout) only parse flags and pick a transport.
//!
//! # Layout
//!
//! Layers point one way: the binaries use [`http`] (or serve stdio), which uses [`mcp`],
//! which uses [`manager`], which uses [`ssh`]; every layer may use [`config`] and the leaf
//! modules, which use nothing above them.
//!
//! - [`http`]: the hardened Streamable HTTP front end (axum), used by `ssh-mcp`.
//! - [`mcp`]: the MCP tool layer: parameter and result types, tool handlers, asking the
//!   user to confirm unknown host keys, and the one mapping from core errors to tool
//!   results.
//! - [`manager`]: the registry of open SSH sessions, keyed by unguessable ids, and their
//!   background jobs and interactive shells.
//! - [`ssh`]: the SSH client: host-key verification, algorithm preferences,
//!   authentication, command execution with bounded output, SFTP, port forwarding.
//! - [`config`]: what the operator decides: flags, the config file, settings, policy.
//! - [`local_paths`]: where `local_path` arguments may point on this machine.
//! - [`secret_page`]: the one-time pages where the user types a secret the model must not
//!   see, and [`serve_loop`]: serving an axum app on a listener (HTTP/1, timeouts).
//! - [`audit`]: the JSON Lines audit log.
//! - [`logging`]: tracing to stderr with credential-bearing dumps suppressed.
//! - [`error`]: the core [`Error`] type every layer below the tools returns.
//! - Leaves: [`address`] (what `ssh_connect` may name), [`clock`] (RFC 3339), [`hex`],
//!   [`ids`] (unguessable identifiers), [`paths`] (`$HOME`, `~`), [`secret`] (a string
//!   that never prints itself), [`wildcard`] (OpenSSH globs).

pub mod address;
pub mod audit;
pub mod clock;
pub mod config;
pub mod error;
pub mod hex;
pub mod http;
pub mod ids;
pub mod local_paths;
pub mod logging;
pub mod manager;
pub mod mcp;
pub mod paths;
pub mod secret;
pub mod secret_page;
pub mod serve_loop;
pub mod ssh;
pub mod wildcard;

pub use config::settings::Settings;
pub use error::{Error, Result};
pub use manager::SessionManager;
pub use mcp::SshMcp;
pub use secret::Secret;
