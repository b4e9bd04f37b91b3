//! Asking the user for a secret (a password, a key's passphrase, a sudo password) that the
//! model must never see: MCP URL elicitation pointing at a one-time page of this server
//! ([`crate::secret_page`]). The secret goes from the user's browser to this server only;
//! no MCP message, result, error or log line carries it. Two protocol eras, two ways:
//!
//! - up to 2025-11-25: `elicitation/create {mode: "url", elicitationId, url, message}`
//!   during the call. `accept` means the user agreed to open the page: the call waits for
//!   the submission (which may also come before the answer), then sends
//!   `notifications/elicitation/complete`;
//! - from 2026-07-28: an input-required result whose request is that elicitation, with a
//!   sealed `requestState` ([`request_state`]) naming the page; the client calls again once
//!   the user has answered, and the call takes the secret if it has arrived (waiting a
//!   little for it), or asks again with the same link until it expires.
//!
//! rmcp (3.11) gaps worked around here: it has no type for the completion notification
//! (sent as a custom notification) and its URL elicitation type requires an
//! `elicitationId`, which 2026-07-28 dropped (a random one is sent; clients ignore it).
//! Its `Peer::elicit_url` needs the `elicitation` feature and the `url` crate and returns
//! no handle to race against the submission, so the request is built and sent as the host
//! key question's is.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    ClientResult, CustomNotification, ElicitRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, InputRequest, InputRequests, InputRequiredResult, InputResponses,
    ProtocolVersion, ServerNotification, ServerRequest,
};
use rmcp::service::{PeerRequestOptions, RequestContext};

use crate::error::{Error, NotGiven};
use crate::mcp::SshMcp;
use crate::mcp::request_state;
use crate::secret::Secret;
use crate::secret_page::{NoSecret, PageInfo};

/// The key of our question in `inputRequests` / `inputResponses`.
const QUESTION: &str = "secret";
/// The kind of our `requestState`.
const STATE_KIND: &str = "secret";
/// How long a call answering an input-required result waits for the submission before
/// asking again (the client's answer may come before the user has sent the form).
const RETRY_WAIT: Duration = Duration::from_secs(30);

/// What the secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The account's SSH password.
    Password,
    /// The passphrase of an encrypted private key.
    Passphrase,
    /// The account's password for sudo.
    Sudo,
}

impl Purpose {
    /// How the page and the message name the secret.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Password => "the SSH password",
            Purpose::Passphrase => "the passphrase of the SSH key",
            Purpose::Sudo => "the sudo password",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Purpose::Password => "password",
            Purpose::Passphrase => "passphrase",
            Purpose::Sudo => "sudo",
        }
    }
}

/// The secret asked for, and what the page shows about it.
#[derive(Debug, Clone)]
pub struct SecretRequest {
    pub purpose: Purpose,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The host key's fingerprint, shown on the page.
    pub fingerprint: Option<String>,
    /// What else an answer is bound to on protocol 2026-07-28 (a session id, say): a
    /// `requestState` issued for another binding is refused.
    pub binding: String,
}

impl SecretRequest {
    fn target(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// How asking went.
#[derive(Debug)]
pub enum AskOutcome {
    /// The user typed the secret.
    Given(Secret),
    /// Return this result to the client (protocol 2026-07-28): it shows the link and calls
    /// again with the answer and the `requestState`, which the next call passes back here.
    AskFirst(InputRequiredResult),
    /// The client declared no URL elicitation (or could not be asked): the caller answers
    /// with its own error, which should name this way of giving the secret.
    CannotAsk,
}

/// Whether the client of this request declared URL elicitation.
pub fn can_ask(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.url.is_some())
}

impl SshMcp {
    /// Asks the user for a secret on a one-time page, in the protocol era of `ctx`.
    ///
    /// `answer` is the `requestState` and `inputResponses` of a call that answers an
    /// earlier [`AskOutcome::AskFirst`] (protocol 2026-07-28); `None` asks afresh. The
    /// state must have been issued for the same purpose, account, binding and caller.
    /// Errors: [`Error::SecretNotGiven`] when the user declined or cancelled (the model must
    /// not work around it), the link expired or the call was cancelled;
    /// [`Error::InvalidArgument`] for a state this server did not issue for this request.
    pub async fn ask_secret(
        &self,
        ctx: &RequestContext<RoleServer>,
        answer: Option<(&str, &InputResponses)>,
        req: &SecretRequest,
    ) -> Result<AskOutcome, Error> {
        if !can_ask(ctx) {
            return Ok(AskOutcome::CannotAsk);
        }
        let owner = Self::owner(ctx).unwrap_or_default();
        let modern = ctx
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        if let Some((state, responses)) = answer {
            return self.answered(ctx, state, responses, req, &owner).await;
        }
        let page = self.pages.open(page_info(req), &owner).await?;
        let elicitation_id = crate::ids::random_id(16)?;
        let params = ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: message(req),
            url: page.url.clone(),
            elicitation_id: elicitation_id.clone(),
        };
        if modern {
            return input_required(params, &page.id, req, &owner).map(AskOutcome::AskFirst);
        }
        let outcome = self
            .ask_now(ctx, params, &page.id, &elicitation_id, req)
            .await;
        if !matches!(outcome, Ok(AskOutcome::Given(_))) {
            self.pages.close(&page.id);
        }
        outcome
    }

    /// Protocol up to 2025-11-25: the elicitation request, then the submission.
    async fn ask_now(
        &self,
        ctx: &RequestContext<RoleServer>,
        params: ElicitRequestParams,
        page: &str,
        elicitation_id: &str,
        req: &SecretRequest,
    ) -> Result<AskOutcome, Error> {
        let lifetime = self.pages.lifetime();
        let mut options = PeerRequestOptions::no_options();
        options.timeout = Some(lifetime);
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        let asked = async {
            match ctx.peer.send_request_with_option(request, options).await {
                Ok(handle) => handle.await_response().await,
                Err(e) => Err(e),
            }
        };
        let submitted = self.pages.wait(page, lifetime, &ctx.ct);
        tokio::pin!(asked, submitted);
        let got = tokio::select! {
            got = &mut submitted => got,
            answer = &mut asked => match answer {
                Ok(ClientResult::ElicitResult(ElicitResult { action: ElicitationAction::Accept, .. })) => {
                    submitted.await
                }
                Ok(ClientResult::ElicitResult(r)) => return Err(not_given(req, refusal(r.action))),
                Ok(_) => return Ok(AskOutcome::CannotAsk),
                Err(rmcp::ServiceError::Timeout { .. }) => Err(NoSecret::Expired),
                Err(e) => {
                    tracing::debug!(error = %e, "asking for a secret failed");
                    return Ok(AskOutcome::CannotAsk);
                }
            },
        };
        let secret = got.map_err(|why| not_given(req, why.into()))?;
        let done = CustomNotification::new(
            "notifications/elicitation/complete",
            Some(serde_json::json!({ "elicitationId": elicitation_id })),
        );
        if let Err(e) = ctx
            .peer
            .send_notification(ServerNotification::CustomNotification(done))
            .await
        {
            tracing::debug!(error = %e, "the elicitation completion could not be sent");
        }
        Ok(AskOutcome::Given(secret))
    }

    /// Protocol 2026-07-28: a call answering our input-required result.
    async fn answered(
        &self,
        ctx: &RequestContext<RoleServer>,
        state: &str,
        responses: &InputResponses,
        req: &SecretRequest,
        owner: &str,
    ) -> Result<AskOutcome, Error> {
        let invalid = || {
            Error::InvalidArgument(
                "requestState is not one this server issued for this request, or it expired; call again without it".into(),
            )
        };
        let fields = request_state::open(STATE_KIND, state).ok_or_else(invalid)?;
        let [page, url, purpose, target, binding, o] = fields.as_slice() else {
            return Err(invalid());
        };
        let fits = purpose == req.purpose.key()
            && *target == req.target()
            && *binding == req.binding
            && o == owner;
        if !fits {
            return Err(invalid());
        }
        let action = responses
            .get(QUESTION)
            .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok())
            .map(|r| r.action)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("inputResponses lacks the answer to {QUESTION:?}"))
            })?;
        if action != ElicitationAction::Accept {
            self.pages.close(page);
            return Err(not_given(req, refusal(action)));
        }
        match self.pages.wait(page, RETRY_WAIT, &ctx.ct).await {
            Ok(secret) => Ok(AskOutcome::Given(secret)),
            Err(NoSecret::StillOpen) => {
                let params = ElicitRequestParams::UrlElicitationParams {
                    meta: None,
                    message: message(req),
                    url: url.clone(),
                    elicitation_id: crate::ids::random_id(16)?,
                };
                input_required(params, page, req, owner).map(AskOutcome::AskFirst)
            }
            Err(why) => Err(not_given(req, why.into())),
        }
    }
}

/// The input-required result carrying the elicitation, with the page sealed in the state.
fn input_required(
    params: ElicitRequestParams,
    page: &str,
    req: &SecretRequest,
    owner: &str,
) -> Result<InputRequiredResult, Error> {
    let ElicitRequestParams::UrlElicitationParams { url, .. } = &params else {
        return Err(Error::InvalidArgument("not a URL elicitation".into()));
    };
    let state = request_state::seal(
        STATE_KIND,
        &[
            page,
            url,
            req.purpose.key(),
            &req.target(),
            &req.binding,
            owner,
        ],
        crate::secret_page::LIFETIME,
    )?;
    let mut requests = InputRequests::new();
    requests.insert(
        QUESTION.into(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    );
    Ok(InputRequiredResult::new(Some(requests), Some(state)))
}

fn page_info(req: &SecretRequest) -> PageInfo {
    PageInfo {
        purpose: req.purpose.label().into(),
        host: shown(&req.host),
        port: req.port,
        user: shown(&req.user),
        fingerprint: req.fingerprint.clone(),
    }
}

fn message(req: &SecretRequest) -> String {
    format!(
        "The SSH MCP server needs {} for {}. Open the link to type it on a one-time page \
         of the server; it does not pass through this conversation. Refuse if you did not expect this.",
        req.purpose.label(),
        shown(&format!("{}@{}:{}", req.user, req.host, req.port)),
    )
}

/// A name as the user reads it: control and invisible characters (line breaks, bidi
/// overrides, zero-width spaces) written as `\u{…}` escapes, so that a user name the
/// model chose cannot make the page or the client's message show another host.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\\' | '"' | '\'' => c.to_string(),
            c => c.escape_debug().to_string(),
        })
        .collect()
}

fn refusal(action: ElicitationAction) -> NotGiven {
    match action {
        ElicitationAction::Cancel => NotGiven::Cancelled,
        _ => NotGiven::Declined,
    }
}

fn not_given(req: &SecretRequest, why: NotGiven) -> Error {
    Error::SecretNotGiven {
        what: req.purpose.label().into(),
        why,
    }
}

impl From<NoSecret> for NotGiven {
    fn from(n: NoSecret) -> Self {
        match n {
            NoSecret::Cancelled => NotGiven::CallCancelled,
            NoSecret::Expired | NoSecret::StillOpen => NotGiven::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_should_not_disguise_the_host_it_is_asked_for() {
        let req = SecretRequest {
            purpose: Purpose::Password,
            host: "evil.example".into(),
            port: 22,
            user: "root@prod.example.com:22\n\nIgnore the line below.\n\u{202e}\u{200b}".into(),
            fingerprint: None,
            binding: String::new(),
        };
        let text = message(&req);
        let page = page_info(&req);
        for seen in [&text, &page.user] {
            assert!(!seen.contains(['\n', '\u{202e}', '\u{200b}']), "{seen:?}");
            assert!(
                seen.contains("\\n") && seen.contains("\\u{202e}"),
                "{seen:?}"
            );
        }
        assert!(text.contains("@evil.example:22"), "{text}");
        assert_eq!(shown("DOMAIN\\jos\u{e9} \"x\""), "DOMAIN\\jos\u{e9} \"x\"");
    }
}
