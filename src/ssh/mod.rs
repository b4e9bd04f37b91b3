//! The SSH client, built on russh.
//!
//! - [`resolve`]: name resolution (IP literals and `localhost` without a lookup) and TCP
//!   connect.
//! - [`socket`]: the TCP stream under SSH, with TCP_NODELAY and TCP_QUICKACK.
//! - [`ident`]: the server's version string, and the quirks it implies.
//! - [`algorithms`]: key exchange, cipher and host-key algorithm preferences.
//! - [`known_hosts`]: host-key verification with OpenSSH's known_hosts semantics.
//! - [`handler`]: the russh client handler (host-key check, channels the server opens).
//! - [`auth`]: password, key file, agent and default-identity authentication, in that
//!   order; [`agent`]: the SSH agent's keys.
//! - [`session`]: one authenticated connection and its channel budget;
//!   [`session::connect`]: opening one (TCP, ProxyJump hops, handshake, authentication).
//! - [`command_line`]: the command line sent to the remote shell, quoting.
//! - [`exec`]: running one command on its own channel; [`stop`]: its stop sequence.
//! - [`output`]: head-and-tail capture of a command's output with exact byte counts.
//! - [`sudo`]: a command wrapped to run under `sudo -S` with the password on stdin.
//! - [`pty`]: an interactive shell on a PTY (`pty::start`: starting its program);
//!   [`terminal`]: its emulated screen and output buffers; [`plain_text`]: terminal output
//!   as text; [`scrub`]: secrets removed from it; [`keys`]: named keys as bytes.
//! - [`sftp_state`], [`sftp_channel`], [`sftp`], [`sftp_upload`], [`local_io`],
//!   [`remote_hash`]: file transfer and directory listing over the sftp subsystem.
//! - [`tunnel`], [`forward`], [`socks`]: local, remote and dynamic TCP forwarding (cargo
//!   feature `port_forward`).

pub mod agent;
pub mod algorithms;
pub mod auth;
pub mod command_line;
pub mod exec;
#[cfg(feature = "port_forward")]
pub mod forward;
pub mod handler;
pub mod ident;
pub mod keys;
pub mod known_hosts;
pub mod local_io;
pub mod output;
pub mod plain_text;
pub mod pty;
pub mod remote_hash;
pub mod resolve;
pub mod scrub;
pub mod session;
pub mod sftp;
pub mod sftp_channel;
pub mod sftp_state;
pub mod sftp_upload;
pub mod socket;
#[cfg(feature = "port_forward")]
pub mod socks;
pub mod stop;
pub mod sudo;
pub mod terminal;
#[cfg(feature = "port_forward")]
pub mod tunnel;

pub use crate::address::Address;
pub use auth::Credentials;
pub use exec::{ExecRequest, Exit};
pub use session::{ConnectRequest, Session};
