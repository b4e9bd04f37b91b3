//! `requestState` of input-required results (protocol 2026-07-28), shared by every
//! question we ask that way (an unknown host key, a secret typed on a page).
//!
//! The client echoes the state on its next call, so it is checked, not trusted: a sealed
//! state is a JSON array `[kind, expiry, fields…]` followed by `|` and an HMAC-SHA256 tag
//! under a key made at start. `kind` keeps the state of one question from answering
//! another; the expiry bounds replays. States do not survive a restart of the server.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};

use crate::error::Error;

/// Seals `fields` as a state of `kind` that [`open`] accepts for `lifetime`.
pub fn seal(kind: &str, fields: &[&str], lifetime: Duration) -> Result<String, Error> {
    let expires = (now_secs() + lifetime.as_secs()).to_string();
    let all: Vec<&str> = [kind, expires.as_str()]
        .into_iter()
        .chain(fields.iter().copied())
        .collect();
    let body = serde_json::to_string(&all)
        .map_err(|e| Error::InvalidArgument(format!("building requestState: {e}")))?;
    let tag = mac(&body)
        .map(|m| crate::hex::encode(&m.finalize().into_bytes()))
        .ok_or_else(|| Error::InvalidArgument("no randomness to protect requestState".into()))?;
    Ok(format!("{body}|{tag}"))
}

/// The fields of a state [`seal`]ed as `kind` that has not expired; `None` for a forged,
/// altered, expired or other kind of state.
pub fn open(kind: &str, state: &str) -> Option<Vec<String>> {
    let (body, tag) = state.rsplit_once('|')?;
    if !verify(body, tag) {
        return None;
    }
    let all: Vec<String> = serde_json::from_str(body).ok()?;
    let mut it = all.into_iter();
    if it.next()? != kind {
        return None;
    }
    let fresh = it.next()?.parse::<u64>().is_ok_and(|e| e >= now_secs());
    fresh.then(|| it.collect())
}

/// The kind a genuine state was sealed as (expired or not), to route it to its question.
pub fn kind_of(state: &str) -> Option<String> {
    let (body, tag) = state.rsplit_once('|')?;
    if !verify(body, tag) {
        return None;
    }
    let all: Vec<String> = serde_json::from_str(body).ok()?;
    all.into_iter().next()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The per-process key; `None` without system randomness, and then no state is issued.
fn key() -> Option<&'static [u8; 32]> {
    static KEY: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).ok().map(|()| k)
    })
    .as_ref()
}

fn mac(body: &str) -> Option<HmacSha256> {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key()?).ok()?;
    m.update(body.as_bytes());
    Some(m)
}

fn verify(body: &str, tag_hex: &str) -> bool {
    let Some(bytes) = crate::hex::decode(tag_hex) else {
        return false;
    };
    mac(body).is_some_and(|m| m.verify_slice(&bytes).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_state_should_open_only_as_itself() {
        let s = seal("k", &["a|b", "c"], Duration::from_secs(60)).unwrap();
        assert_eq!(
            open("k", &s),
            Some(vec!["a|b".to_string(), "c".to_string()])
        );
        assert_eq!(kind_of(&s).as_deref(), Some("k"));
        assert_eq!(open("other", &s), None);
        assert_eq!(open("k", &s.replace("\"c\"", "\"d\"")), None);
        assert_eq!(open("k", "[\"k\",\"99999999999\"]|00"), None);
        let expired = seal("k", &[], Duration::ZERO).unwrap();
        // Sealed to expire now: still open within the same second, never after.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(open("k", &expired), None);
        assert_eq!(kind_of(&expired).as_deref(), Some("k"));
    }
}
