//! Logging: `RUST_LOG` filter (default `info`), plain text on stderr.
//!
//! `RUST_LOG` takes a level (`debug`) and/or `target=level` pairs separated by commas
//! (`warn,ssh_mcp=debug`), as `tracing_subscriber::filter::Targets` parses them.
//!
//! stdout is the protocol channel of `ssh-mcp-stdio`, so nothing may be written there.
//! rmcp dumps whole JSON-RPC messages at debug and trace level; those carry tool arguments,
//! passwords among them, so rmcp's events above `info` are dropped whatever `RUST_LOG` says.
//! So are the shell parser's (targets `tokenize`, `parse`, `expansion`), which print every
//! word of the commands the `read_only` preset reads.

use tracing::Level;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Installs the global subscriber. Safe to call once per process.
pub fn init() {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let (env, bad) = match spec.trim() {
        "" => (Targets::new().with_default(Level::INFO), false),
        s => match s.parse::<Targets>() {
            Ok(t) => (t, false),
            Err(_) => (Targets::new().with_default(Level::INFO), true),
        },
    };
    let no_protocol_dumps = filter_fn(|meta| {
        let dumps = meta.target().starts_with("rmcp")
            || matches!(meta.target(), "tokenize" | "parse" | "expansion");
        !(dumps && *meta.level() > Level::INFO)
    });
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(env.and(no_protocol_dumps));
    let _ = tracing_subscriber::registry().with(layer).try_init();
    if bad {
        tracing::warn!("RUST_LOG could not be parsed; logging at info");
    }
}
