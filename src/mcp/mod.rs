//! The MCP tool layer: one handler type served over both transports.
//!
//! - [`types`]: parameter and result structs (their docs are the schema the model reads).
//! - [`tools`]: `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.
//! - [`execute`]: `ssh_execute` (foreground with progress, or background) and `ssh_job`.
//! - [`forward`]: `ssh_forward` (cargo feature `port_forward`).
//! - [`errors`]: the one mapping from core errors to tool errors.

pub mod errors;
pub mod execute;
#[cfg(feature = "port_forward")]
pub mod forward;
pub mod tools;
pub mod types;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};

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
    tool_router: ToolRouter<Self>,
}

impl SshMcp {
    pub fn new(manager: Arc<SessionManager>) -> Self {
        #[allow(unused_mut)]
        let mut tool_router = Self::session_router() + Self::exec_router();
        #[cfg(feature = "port_forward")]
        {
            tool_router += Self::forward_router();
        }
        Self {
            manager,
            tool_router,
        }
    }

    pub fn manager(&self) -> &Arc<SessionManager> {
        &self.manager
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SshMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ssh-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
