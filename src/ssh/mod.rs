//! The SSH client, built on russh.
//!
//! - [`address`]: `host`, `host:port`, `[v6]:port` parsing.
//! - [`known_hosts`]: host-key verification with OpenSSH's known_hosts semantics.
//! - [`handler`]: the russh client handler (host-key check).
//! - [`client_config`]: `~/.ssh/config` aliases.
//! - [`auth`]: password, key file, agent and default-identity authentication.
//! - [`session`]: one authenticated connection and its channel budget.
//! - [`exec`]: running one command on its own channel.
//! - [`output`]: head-and-tail capture of a command's output with exact byte counts.
//! - [`resolve`]: name resolution (IP literals and `localhost` without a lookup) and TCP
//!   connect.
//! - [`socket`]: the TCP stream under SSH, with TCP_NODELAY and TCP_QUICKACK.
//! - [`sftp`]: file transfer and directory listing over the sftp subsystem.
//! - [`forward`]: local TCP forwarding over `direct-tcpip` channels.

pub mod address;
pub mod algorithms;
pub mod auth;
pub mod client_config;
pub mod command_line;
pub mod exec;
#[cfg(feature = "port_forward")]
pub mod forward;
pub mod handler;
pub mod ident;
pub mod known_hosts;
pub mod local_io;
pub mod output;
pub mod resolve;
pub mod session;
pub mod sftp;
pub mod sftp_channel;
pub mod socket;

pub use address::Address;
pub use auth::Credentials;
pub use exec::{ExecRequest, Exit};
pub use session::{ConnectRequest, Session};
