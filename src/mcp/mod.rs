//! The MCP tool layer: one handler type served over both transports.
//!
//! - [`types`]: parameter and result structs (their docs are the schema the model reads).
//! - [`sessions`]: `ssh_connect`, `ssh_disconnect`, `ssh_list_sessions`.
//! - [`connect`]: what `ssh_connect` does before a session exists (named hosts, the ssh
//!   client config, policy), and [`confirm`]: asking the user about an unknown host key.
//! - [`ask_secret`]: asking the user for a password or passphrase on a one-time page (URL
//!   elicitation), and [`request_state`]: the sealed `requestState` of such questions;
//!   [`ask_sudo`]: a session's sudo password, asked that way where none is known.
//! - [`execute`]: `ssh_execute` (a command the call waits for, up to `yield_after_secs`, or
//!   a background job) and `ssh_job`.
//! - [`fanout`]: `ssh_fanout` (one command on many hosts, results grouped).
//! - [`shell`]: `ssh_shell_open`, `ssh_shell_send`, `ssh_shell_read`, `ssh_shell_close`
//!   (interactive shells on a PTY), with [`shell_types`] and [`shell_wait`].
//! - [`files`]: `ssh_upload`, `ssh_download`, `ssh_list_dir` (SFTP).
//! - [`forward`]: `ssh_forward`, `ssh_forward_close` (cargo feature `port_forward`).
//! - [`progress`]: progress notifications for commands and transfers.
//! - [`errors`]: the one mapping from core errors to tool errors.
//! - [`schema`]: the tools' JSON Schemas, compacted.

pub mod ask_secret;
pub mod ask_sudo;
pub mod confirm;
pub mod connect;
pub mod errors;
pub mod execute;
pub mod fanout;
pub mod file_types;
pub mod files;
#[cfg(feature = "port_forward")]
pub mod forward;
pub mod progress;
pub mod request_state;
pub mod schema;
pub mod sessions;
pub mod shell;
pub mod shell_types;
pub mod shell_wait;
pub mod stdio_transport;
pub mod structured;
pub mod types;

use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool_handler};

use crate::audit::Event;
use crate::secret_page::Pages;
use tokio_util::sync::CancellationToken;

use crate::manager::SessionManager;

/// What the server tells the model up front, naming every tool this build has.
fn instructions() -> String {
    let forward = if cfg!(feature = "port_forward") {
        (", ssh_forward", " ssh_forward_close stops a forward.")
    } else {
        ("", "")
    };
    format!(
        "SSH access to remote hosts. ssh_connect opens a session; its session_id serves \
         ssh_execute, ssh_shell_open, ssh_upload, ssh_download, ssh_list_dir{} and \
         ssh_disconnect. Long commands continue as jobs followed with ssh_job; a shell_id \
         serves ssh_shell_send, ssh_shell_read and ssh_shell_close; ssh_list_sessions shows \
         what is open.{} ssh_fanout runs one command on many named hosts (web*, @group) or \
         sessions at once. A non-zero exit code is a normal result.",
        forward.0, forward.1
    )
}

/// The longest list of named hosts the instructions carry; past it they point to
/// `ssh_list_sessions`, so the instructions stay under 1 KiB.
const NAMED_HOSTS_TEXT: usize = 500;
/// The longest the instructions grow with the list of host groups.
const INSTRUCTIONS_TEXT: usize = 1024;

/// Who calls a tool: the name of the HTTP bearer token the request came with. The HTTP
/// front end puts it in the request's extensions; SSH sessions and jobs belong to it.
/// Without one (stdio, or HTTP without tokens) every caller is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// The MCP server. Cheap to clone: every clone (one per HTTP session) shares the same
/// [`SessionManager`], so SSH sessions do not depend on the MCP transport session.
#[derive(Clone)]
pub struct SshMcp {
    manager: Arc<SessionManager>,
    /// The roots the client declared, fetched on first need and forgotten when the client
    /// says they changed (used over stdio only; see [`files`]).
    client_roots: Arc<tokio::sync::Mutex<Option<Vec<std::path::PathBuf>>>>,
    /// The one-time pages where the user types secrets (see [`ask_secret`]).
    pages: Arc<Pages>,
}

impl SshMcp {
    /// A server whose secret pages get a loopback listener of their own on first need
    /// (stdio, which has no HTTP listener).
    pub fn new(manager: Arc<SessionManager>) -> Self {
        Self::with_pages(manager, Pages::on_demand(CancellationToken::new()))
    }

    /// A server whose secret pages are `pages` (shared by every handler of one process).
    pub fn with_pages(manager: Arc<SessionManager>, pages: Arc<Pages>) -> Self {
        Self {
            manager,
            client_roots: Arc::default(),
            pages,
        }
    }

    /// The directories the client declared as roots (`roots/list`, `file://` only);
    /// empty when it declares none or cannot be asked. Roots are deprecated from protocol
    /// 2026-07-28 on, but clients of the earlier versions still declare them.
    #[allow(deprecated)]
    pub(crate) async fn client_roots(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Vec<std::path::PathBuf> {
        let declared = ctx
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if !declared {
            return Vec::new();
        }
        let mut cached = self.client_roots.lock().await;
        if let Some(roots) = cached.as_ref() {
            return roots.clone();
        }
        let asked =
            tokio::time::timeout(std::time::Duration::from_secs(10), ctx.peer.list_roots()).await;
        let roots = match asked {
            Ok(Ok(list)) => {
                crate::local_paths::roots_from_uris(list.roots.iter().map(|r| r.uri.as_str()))
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the client did not list its roots");
                return Vec::new();
            }
            Err(_) => {
                tracing::debug!("the client did not answer roots/list in time");
                return Vec::new();
            }
        };
        *cached = Some(roots.clone());
        roots
    }

    /// The tools, schemas included: built on first use, once per process, and shared by
    /// every handler (the HTTP transport makes one per MCP session, or per request when
    /// stateless). A server that is only initialized does not build them.
    fn tools() -> &'static ToolRouter<SshMcp> {
        static TOOLS: OnceLock<ToolRouter<SshMcp>> = OnceLock::new();
        TOOLS.get_or_init(|| {
            #[allow(unused_mut)]
            let mut router = Self::session_router()
                + Self::exec_router()
                + Self::fanout_router()
                + Self::shell_router()
                + Self::files_router();
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
            .and_then(|parts| parts.extensions.get::<Caller>())
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
    async fn on_roots_list_changed(&self, _: rmcp::service::NotificationContext<RoleServer>) {
        *self.client_roots.lock().await = None;
    }

    fn get_info(&self) -> ServerConfig {
        let hosts = &self.manager.settings().hosts;
        let mut instructions = instructions();
        if !hosts.is_empty() {
            let names: Vec<&str> = hosts.keys().map(String::as_str).collect();
            let list = names.join(", ");
            if list.len() <= NAMED_HOSTS_TEXT {
                instructions.push_str(&format!(
                    " Named hosts (pass the name as address, without credentials): {list}."
                ));
            } else {
                instructions.push_str(&format!(
                    " {} named hosts are configured: ssh_list_sessions lists them.",
                    names.len()
                ));
            }
        }
        let groups = &self.manager.settings().groups;
        if !groups.is_empty() {
            let list: Vec<String> = groups.keys().map(|g| format!("@{g}")).collect();
            let text = format!(" Host groups for ssh_fanout: {}.", list.join(", "));
            if instructions.len() + text.len() < INSTRUCTIONS_TEXT {
                instructions.push_str(&text);
            } else {
                instructions.push_str(&format!(
                    " {} host groups (@name) are configured for ssh_fanout.",
                    list.len()
                ));
            }
        }
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ssh-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions)
    }
}
