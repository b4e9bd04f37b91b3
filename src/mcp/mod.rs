//! The MCP tool layer: one handler type served over both transports.
//!
//! - [`types`]: parameter and result structs (their docs are the schema the model reads).
//! - [`tools`]: `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.
//! - [`files`]: `ssh_upload`, `ssh_download`, `ssh_list_dir` (SFTP).
//! - [`execute`]: `ssh_execute` (foreground with progress, or background) and `ssh_job`.
//! - [`forward`]: `ssh_forward` (cargo feature `port_forward`).
//! - [`progress`]: progress notifications for commands and transfers.
//! - [`errors`]: the one mapping from core errors to tool errors.
//! - [`schema`]: the tools' JSON Schemas.

pub mod confirm;
pub mod connect;
pub mod errors;
pub mod execute;
pub mod files;
#[cfg(feature = "port_forward")]
pub mod forward;
pub mod progress;
pub mod schema;
pub mod tools;
pub mod types;

use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool_handler};

use crate::audit::Event;

use crate::manager::SessionManager;

const INSTRUCTIONS: &str = "SSH access to remote hosts. Call ssh_connect first; it returns a \
session_id for ssh_execute (run a shell command, get stdout, stderr and exit code), ssh_forward \
(tunnel a local port to a host reachable from the server), ssh_list_sessions and ssh_disconnect. \
Sessions stay open until disconnected. A non-zero exit code is a normal result. Long commands are \
stopped after timeout_secs; large outputs are cut to their head and tail. For long jobs use \
ssh_execute with background: true and follow them with ssh_job.";

/// The MCP server. Cheap to clone: every clone (one per HTTP session) shares the same
/// [`SessionManager`], so SSH sessions do not depend on the MCP transport session.
#[derive(Clone)]
pub struct SshMcp {
    manager: Arc<SessionManager>,
}

impl SshMcp {
    pub fn new(manager: Arc<SessionManager>) -> Self {
        Self { manager }
    }

    /// The tools, schemas included: built on first use, once per process, and shared by
    /// every handler (the HTTP transport makes one per MCP session, or per request when
    /// stateless). A server that is only initialized does not build them.
    fn tools() -> &'static ToolRouter<SshMcp> {
        static TOOLS: OnceLock<ToolRouter<SshMcp>> = OnceLock::new();
        TOOLS.get_or_init(|| {
            #[allow(unused_mut)]
            let mut router = Self::session_router() + Self::exec_router() + Self::files_router();
            #[cfg(feature = "port_forward")]
            {
                router += Self::forward_router();
            }
            router
        })
    }

    pub fn manager(&self) -> &Arc<SessionManager> {
        &self.manager
    }

    /// The caller's identity for session ownership: the HTTP bearer token's name, if any.
    pub(crate) fn owner(ctx: &RequestContext<RoleServer>) -> Option<String> {
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<crate::http::TokenName>())
            .map(|t| t.0.clone())
    }

    /// Records an audit event (when an audit log is configured), naming the MCP client.
    pub(crate) fn audit(&self, ctx: &RequestContext<RoleServer>, mut event: Event) {
        let Some(log) = &self.manager.settings().audit else {
            return;
        };
        let client = ctx
            .peer
            .peer_info()
            .map(|info| format!("{} {}", info.client_info.name, info.client_info.version));
        let token = Self::owner(ctx).map(|t| format!("token {t}"));
        event.client = match (client, token) {
            (Some(c), Some(t)) => Some(format!("{c} ({t})")),
            (c, t) => c.or(t),
        };
        log.record(event);
    }
}

#[tool_handler(router = Self::tools())]
impl ServerHandler for SshMcp {
    fn get_info(&self) -> ServerConfig {
        let hosts = &self.manager.settings().hosts;
        let mut instructions = INSTRUCTIONS.to_string();
        if !hosts.is_empty() {
            let names: Vec<&str> = hosts.keys().map(String::as_str).collect();
            instructions.push_str(&format!(
                " Named hosts (pass the name as address, without credentials): {}.",
                names.join(", ")
            ));
        }
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ssh-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions)
    }
}
