//! Logging: `RUST_LOG` filter (default `info`), plain text on stderr.
//!
//! stdout is the protocol channel of `ssh-mcp-stdio`, so nothing may be written there.
//! rmcp dumps whole JSON-RPC messages at debug and trace level; those carry tool arguments,
//! passwords among them, so rmcp's events above `info` are dropped whatever `RUST_LOG` says.

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Installs the global subscriber. Safe to call once per process.
pub fn init() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let no_protocol_dumps =
        filter_fn(|meta| !(meta.target().starts_with("rmcp") && *meta.level() > Level::INFO));
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(env.and(no_protocol_dumps));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
