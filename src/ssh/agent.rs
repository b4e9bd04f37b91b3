//! The SSH agent as an authentication method: its socket on Unix, its named pipe or
//! Pageant on Windows, and each key it holds offered in turn.

use russh::MethodSet;
use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;

use crate::error::Result;
use crate::ssh::auth::{AuthMethod, rsa_hash};
use crate::ssh::handler::ClientHandler;

/// The SSH agent: `SSH_AUTH_SOCK`'s Unix socket (Linux, macOS's launchd socket, the BSDs).
#[cfg(unix)]
pub(crate) async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    tried: &mut Vec<String>,
    accepts: &mut MethodSet,
) -> Result<Option<AuthMethod>> {
    let Some(sock) = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match AgentClient::connect_uds(&sock).await {
        Ok(agent) => sign_with_agent(handle, user, tried, accepts, agent).await,
        Err(e) => {
            tried.push(format!("agent (unreachable: {e})"));
            Ok(None)
        }
    }
}

/// The SSH agent on Windows: OpenSSH for Windows' named pipe (the one `SSH_AUTH_SOCK`
/// names, else its usual one), then Pageant.
#[cfg(windows)]
pub(crate) async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    tried: &mut Vec<String>,
    accepts: &mut MethodSet,
) -> Result<Option<AuthMethod>> {
    let pipe = agent_pipe(std::env::var_os("SSH_AUTH_SOCK"));
    match AgentClient::connect_named_pipe(&pipe).await {
        Ok(agent) => return sign_with_agent(handle, user, tried, accepts, agent).await,
        Err(e) => tried.push(format!("agent pipe (unreachable: {e})")),
    }
    match AgentClient::connect_pageant().await {
        Ok(agent) => sign_with_agent(handle, user, tried, accepts, agent).await,
        Err(e) => {
            tried.push(format!("Pageant (unreachable: {e})"));
            Ok(None)
        }
    }
}

/// The named pipe of OpenSSH for Windows' agent: `SSH_AUTH_SOCK` when set, else
/// `\\.\pipe\openssh-ssh-agent`.
#[cfg_attr(not(windows), allow(dead_code))]
fn agent_pipe(auth_sock: Option<std::ffi::OsString>) -> std::ffi::OsString {
    auth_sock
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| r"\\.\pipe\openssh-ssh-agent".into())
}

/// Tries each key the agent holds.
async fn sign_with_agent<S>(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    tried: &mut Vec<String>,
    accepts: &mut MethodSet,
    mut agent: AgentClient<S>,
) -> Result<Option<AuthMethod>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ids = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("agent (failed: {e})"));
            return Ok(None);
        }
    };
    if ids.is_empty() {
        tried.push("agent (holds no keys)".into());
    }
    let any_rsa = ids
        .iter()
        .any(|id| matches!(id, AgentIdentity::PublicKey { key, .. } if key.algorithm().is_rsa()));
    let hash = rsa_hash(handle, any_rsa).await?;
    for id in ids {
        let AgentIdentity::PublicKey { key, .. } = id else {
            continue;
        };
        let fp = crate::ssh::known_hosts::fingerprint(&key);
        let hash = if key.algorithm().is_rsa() { hash } else { None };
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(Some(format!("agent key {fp}"))),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => {
                tried.push(format!("agent key {fp} (rejected)"));
                *accepts = remaining_methods;
            }
            Err(e) => tried.push(format!("agent key {fp} (agent error: {e})")),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_agent_pipe_should_follow_ssh_auth_sock() {
        assert_eq!(
            agent_pipe(None),
            std::ffi::OsString::from(r"\\.\pipe\openssh-ssh-agent")
        );
        assert_eq!(
            agent_pipe(Some("".into())),
            std::ffi::OsString::from(r"\\.\pipe\openssh-ssh-agent")
        );
        assert_eq!(
            agent_pipe(Some(r"\\.\pipe\mine".into())),
            std::ffi::OsString::from(r"\\.\pipe\mine")
        );
    }
}
