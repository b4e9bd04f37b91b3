//! Integration tests: the built binaries, driven by a real MCP client over their real
//! transports, against real OpenSSH sshd instances started per test.
//!
//! Needs `/usr/sbin/sshd`, `ssh-keygen`, `ssh-agent`, `/usr/sbin/dropbear`,
//! `/usr/sbin/tinysshd` and root (a test user with a password is created), and for
//! `quoting` the login shells dash, zsh and fish (one user each), for `shell` and
//! `shell_sudo` sudo, python3 and less (the test user gets a sudoers entry), for `sudo_rs`
//! sudo-rs in `/opt/sudo-rs/bin` (`scripts/sudo-rs-setup`), and for `secrets` headless
//! Chromium and chromedriver. `.ci/run` installs what is missing. The
//! tests with the official MCP tools (`official`) and the
//! AsyncSSH server (`asyncssh`) need `SSH_MCP_INTEROP_DIR`, which `scripts/test` sets.

// The servers these tests start (OpenSSH, Dropbear, tinysshd) run on Unix.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod asyncssh;
mod attacks;
mod attacks2;
mod browser;
mod confinement;
mod connect;
mod execute;
mod fanout;
mod fanout_access;
mod files;
mod fleet;
#[cfg(feature = "port_forward")]
mod forward;
#[cfg(feature = "port_forward")]
mod forward_policy;
mod harness;
mod hostile;
mod hostkeys;
mod http;
mod interop;
mod lifecycle;
mod liveness;
mod official;
mod proftpd;
mod quoting;
mod reach;
mod read_only;
mod rogue;
mod secret_client;
mod secrets;
mod security;
mod shell;
mod shell_bypass;
mod shell_misuse;
mod shell_rogue;
mod shell_sudo;
mod sshconfig;
mod sshd;
mod sudo_page;
mod sudo_rs;
mod tinyssh;
mod usability;
mod yielding;
