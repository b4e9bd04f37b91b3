//! The sudo password of a session for `ssh_execute {sudo: true}` and `ssh_shell_send
//! {secret: "sudo"}`: the one configured or logged in with, else asked from the user on a
//! one-time page ([`ask_secret`](crate::mcp::ask_secret)) where the client can show one.
//! A typed password is kept with the session (for the next sudo call, and scrubbed from its
//! shells' output) and goes when the session closes.

use rmcp::RoleServer;
use rmcp::model::{InputRequiredResult, InputResponses};
use rmcp::service::RequestContext;

use crate::error::Error;
use crate::manager::Entry;
use crate::mcp::SshMcp;
use crate::mcp::ask_secret::{AskOutcome, Purpose, SecretRequest};
use crate::secret::Secret;

/// A session's sudo password, or the question to return first.
pub(crate) enum SudoSecret {
    Known(Secret),
    /// Return this to the client (protocol 2026-07-28); it calls again with the answer.
    AskFirst(InputRequiredResult),
}

impl SshMcp {
    /// The sudo password of `entry`'s session, asking the user where none is known.
    /// `state` and `responses` answer an earlier [`SudoSecret::AskFirst`].
    /// Errors: [`Error::NoSudoPassword`] where the client cannot be asked;
    /// [`Error::SecretNotGiven`] when the user declined.
    pub(crate) async fn sudo_secret(
        &self,
        ctx: &RequestContext<RoleServer>,
        entry: &Entry,
        state: Option<&str>,
        responses: Option<&InputResponses>,
    ) -> Result<SudoSecret, Error> {
        if let Some(secret) = entry.sudo_secret()? {
            return Ok(SudoSecret::Known(secret));
        }
        let session = entry.session();
        let info = &session.info;
        let req = SecretRequest {
            purpose: Purpose::Sudo,
            host: info.address.host.clone(),
            port: info.address.port,
            user: info.username.clone(),
            fingerprint: Some(info.host_key.fingerprint.clone()).filter(|f| !f.is_empty()),
            // An answer is for this session only.
            binding: entry.id.clone(),
        };
        let empty = InputResponses::new();
        let answer = state.map(|s| (s, responses.unwrap_or(&empty)));
        match self.ask_secret(ctx, answer, &req).await? {
            AskOutcome::Given(secret) => {
                self.manager.keep_sudo_secret(entry, &secret);
                Ok(SudoSecret::Known(secret))
            }
            AskOutcome::AskFirst(question) => Ok(SudoSecret::AskFirst(question)),
            AskOutcome::CannotAsk => Err(Error::NoSudoPassword),
        }
    }
}
