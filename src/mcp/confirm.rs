//! Asking the user to confirm an unknown host's key through MCP elicitation, instead of
//! accepting it silently. Two protocol eras, two ways:
//!
//! - up to 2025-11-25, an `elicitation/create` request pushed to the client during the call;
//! - from 2026-07-28, which forbids server-to-client requests, an input-required result: the
//!   client asks the user and calls again with the answer and our `requestState`.
//!
//! A fingerprint is not a secret, so form mode is allowed. The `requestState` names the
//! host, the user and the fingerprint, sealed by [`request_state`].

use rmcp::RoleServer;
use rmcp::model::{
    ClientResult, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequests, InputRequiredResult, ProtocolVersion,
    ServerRequest,
};
use rmcp::service::{PeerRequestOptions, RequestContext};
use serde_json::json;
use std::time::Duration;

use crate::error::Error;
use crate::mcp::request_state;

/// How long the user has to answer a pushed question.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an input-required answer may take to come back.
const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// The key of our question in `inputRequests` / `inputResponses`.
const QUESTION: &str = "host_key";
/// The kind of our `requestState` (see [`request_state`]).
const STATE_KIND: &str = "host_key";

/// How this call can ask the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asking {
    /// The client declared no form elicitation.
    No,
    /// A request pushed to the client (protocol up to 2025-11-25).
    Push,
    /// An input-required result (protocol 2026-07-28 and later).
    InputRequired,
}

/// What the user said.
#[derive(Debug)]
pub enum Answer {
    Trust,
    /// Declined, cancelled or unanswered: the reason, for the error.
    Refused(String),
    /// The question could not be delivered.
    Unavailable,
}

/// Whether and how the client of this request can be asked.
pub fn how_to_ask(ctx: &RequestContext<RoleServer>) -> Asking {
    let form = ctx
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none());
    if !form {
        Asking::No
    } else if ctx
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
    {
        Asking::InputRequired
    } else {
        Asking::Push
    }
}

/// The question: one boolean, with the host and the fingerprint in the message.
fn question(host: &str, fingerprint: &str) -> Result<ElicitRequestParams, Error> {
    let message = format!(
        "The SSH host {host} is not in known_hosts. It offers the host key {fingerprint}. \
         Compare it with the fingerprint the host's administrator gave you \
         (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host). Trust it and record it?"
    );
    let description = format!("Record {fingerprint} for {host} and connect");
    let requested_schema = ElicitationSchema::builder()
        .required_bool_property("trust", |b| {
            b.title("Trust this host key")
                .description(description)
                .with_default(false)
        })
        .build()
        .map_err(|e| Error::InvalidArgument(format!("building the host key question: {e}")))?;
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema,
    })
}

/// Asks during the call (protocol up to 2025-11-25).
pub async fn ask_now(ctx: &RequestContext<RoleServer>, host: &str, fingerprint: &str) -> Answer {
    let params = match question(host, fingerprint) {
        Ok(p) => p,
        Err(_) => return Answer::Unavailable,
    };
    let mut options = PeerRequestOptions::no_options();
    options.timeout = Some(ANSWER_TIMEOUT);
    let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
    let asked = async {
        match ctx.peer.send_request_with_option(request, options).await {
            Ok(handle) => handle.await_response().await,
            Err(e) => Err(e),
        }
    };
    let waited = tokio::select! {
        r = asked => r,
        _ = ctx.ct.cancelled() => return Answer::Refused("the call was cancelled".into()),
    };
    match waited {
        Ok(ClientResult::ElicitResult(r)) => judge(&r),
        Ok(_) => Answer::Unavailable,
        Err(rmcp::ServiceError::Timeout { .. }) => {
            Answer::Refused(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()))
        }
        Err(e) => transport_failure(e),
    }
}

fn transport_failure(e: rmcp::ServiceError) -> Answer {
    tracing::debug!(error = %e, "asking about the host key failed");
    Answer::Unavailable
}

fn judge(r: &ElicitResult) -> Answer {
    match r.action {
        ElicitationAction::Accept
            if r.content.as_ref().and_then(|c| c.get("trust")) == Some(&json!(true)) =>
        {
            Answer::Trust
        }
        ElicitationAction::Accept => Answer::Refused("the user did not trust it".into()),
        ElicitationAction::Decline => Answer::Refused("the user declined".into()),
        ElicitationAction::Cancel => Answer::Refused("the user cancelled".into()),
        _ => Answer::Refused("the answer was not understood".into()),
    }
}

/// The input-required result asking the question (protocol 2026-07-28). `target` names the
/// connection asked for (user and address), `owner` the caller.
pub fn input_required(
    host: &str,
    fingerprint: &str,
    target: &str,
    owner: Option<&str>,
) -> Result<InputRequiredResult, Error> {
    let mut requests = InputRequests::new();
    requests.insert(
        QUESTION.into(),
        InputRequest::Elicitation(ElicitRequest::new(question(host, fingerprint)?)),
    );
    let state = request_state::seal(
        STATE_KIND,
        &[fingerprint, target, owner.unwrap_or("")],
        STATE_LIFETIME,
    )?;
    Ok(InputRequiredResult::new(Some(requests), Some(state)))
}

/// Whether `state` is one [`input_required`] issued (expired or not).
pub fn is_host_key_state(state: &str) -> bool {
    request_state::kind_of(state).as_deref() == Some(STATE_KIND)
}

/// The fingerprint the user trusted, from a call that answers [`input_required`].
pub fn answered(
    state: &str,
    responses: &rmcp::model::InputResponses,
    target: &str,
    owner: Option<&str>,
) -> Result<String, Error> {
    let invalid = || {
        Error::InvalidArgument(
            "requestState is not one this server issued for this connection, or it expired; call ssh_connect again without it".into(),
        )
    };
    let fields = request_state::open(STATE_KIND, state).ok_or_else(invalid)?;
    let [fingerprint, t, o] = fields.as_slice() else {
        return Err(invalid());
    };
    if t != target || o != owner.unwrap_or("") {
        return Err(invalid());
    }
    let answer = responses
        .get(QUESTION)
        .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok())
        .map(|r| judge(&r));
    match answer {
        Some(Answer::Trust) => Ok(fingerprint.to_string()),
        Some(Answer::Refused(why)) => Err(Error::HostKeyNotConfirmed {
            host: target.to_string(),
            offered: fingerprint.to_string(),
            why,
        }),
        _ => Err(Error::InvalidArgument(format!(
            "inputResponses lacks the answer to {QUESTION:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(trust: bool) -> rmcp::model::InputResponses {
        let mut r = rmcp::model::InputResponses::new();
        r.insert(
            QUESTION.into(),
            json!({"action": "accept", "content": {"trust": trust}}),
        );
        r
    }

    fn state_of(r: &InputRequiredResult) -> String {
        r.request_state.clone().unwrap_or_default()
    }

    #[test]
    fn a_trusted_answer_should_give_the_fingerprint_back() {
        let r = input_required("h", "SHA256:abc", "u@h:22", Some("t")).unwrap();
        let fp = answered(&state_of(&r), &accept(true), "u@h:22", Some("t")).unwrap();
        assert_eq!(fp, "SHA256:abc");
    }

    #[test]
    fn a_declined_or_forged_answer_should_be_refused() {
        let r = input_required("h", "SHA256:abc", "u@h:22", None).unwrap();
        let state = state_of(&r);
        assert!(matches!(
            answered(&state, &accept(false), "u@h:22", None),
            Err(Error::HostKeyNotConfirmed { .. })
        ));
        // Another target, another owner, or a changed fingerprint: the state does not fit.
        assert!(answered(&state, &accept(true), "u@other:22", None).is_err());
        assert!(answered(&state, &accept(true), "u@h:22", Some("x")).is_err());
        let forged = state.replace("SHA256:abc", "SHA256:evil");
        assert!(answered(&forged, &accept(true), "u@h:22", None).is_err());
        assert!(
            answered(
                "[\"host_key\",\"9999999999\",\"a\",\"b\",\"\"]|00",
                &accept(true),
                "b",
                None
            )
            .is_err()
        );
    }
}
