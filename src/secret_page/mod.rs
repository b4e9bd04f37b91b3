//! One-time local pages where the user types a secret (a password, a key's passphrase)
//! that the model must never see: the server hands the client a link (MCP URL
//! elicitation), the user opens it in a browser and submits the secret to this server,
//! and the client only learns that the page was completed.
//!
//! A page is `/secrets/<id>`: the id is 128 random bits and the only thing the URL
//! carries; it works once, until its first submission or its lifetime ([`LIFETIME`])
//! ends. Whoever holds the link before then can complete it (see `docs/security.md`).
//! `ssh-mcp` serves the pages on its own HTTP listener ([`Pages::router`]); `ssh-mcp-stdio`
//! has none, so [`Pages::on_demand`] starts one on `127.0.0.1` (any free port) the first
//! time a page is made and keeps it for the life of the process. [`html`] renders and
//! receives the page.

pub mod html;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// How long a link works.
pub const LIFETIME: Duration = Duration::from_secs(300);

/// Pages one MCP client (one bearer token, or the stdio client) keeps open at most: a new
/// page past it withdraws that client's oldest, so pages left open by a model's repeated
/// calls never stop the next question, nor another client's.
const MAX_OPEN_PER_OWNER: usize = 16;

/// Pages open at most at once, over all clients; past it new requests are refused.
const MAX_OPEN: usize = 1024;

/// Connections the on-demand listener keeps open at most: other users of the machine can
/// reach it, and must not exhaust this process's file descriptors.
const MAX_CONNECTIONS: usize = 64;

/// What a page shows about the secret it asks for. All of it is HTML-escaped.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// What the secret is for, e.g. "the SSH password".
    pub purpose: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The host key's fingerprint, when the connection got that far.
    pub fingerprint: Option<String>,
}

/// A page just made.
#[derive(Debug, Clone)]
pub struct NewPage {
    pub id: String,
    /// `<base>/secrets/<id>`.
    pub url: String,
}

/// Why waiting for a secret ended without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSecret {
    /// The link expired, was withdrawn or never existed.
    Expired,
    /// The caller's cancellation token fired.
    Cancelled,
    /// The caller's own deadline passed first; the page is still open.
    StillOpen,
}

enum State {
    Waiting,
    Submitted(Secret),
}

struct Slot {
    info: PageInfo,
    /// The MCP client the page was made for (its token's name; empty over stdio).
    owner: String,
    /// Anti-forgery token of the page's form.
    token: String,
    expires: Instant,
    state: State,
    /// Wakes the one caller waiting for this page.
    arrived: Arc<Notify>,
}

/// Where links point.
enum Base {
    /// A fixed base URL: `--public-url`, or the address `ssh-mcp` listens on.
    Fixed(String),
    /// A loopback listener started on first need (`ssh-mcp-stdio`); `None` until then.
    OnDemand(tokio::sync::Mutex<Option<String>>),
}

/// The open pages of this process.
pub struct Pages {
    base: Base,
    slots: Mutex<HashMap<String, Slot>>,
    lifetime: Duration,
    /// Stops the on-demand listener.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

impl Pages {
    /// Pages served by the caller's own listener, linked from `base` (`scheme://host:port`,
    /// optionally with a path prefix; a trailing `/` is ignored).
    pub fn fixed(base: &str) -> Arc<Self> {
        let base = Base::Fixed(base.trim_end_matches('/').to_string());
        Self::build(base, LIFETIME, CancellationToken::new())
    }

    /// Pages served by a loopback listener started on first need, stopped by `shutdown`.
    pub fn on_demand(shutdown: CancellationToken) -> Arc<Self> {
        let base = Base::OnDemand(tokio::sync::Mutex::new(None));
        Self::build(base, LIFETIME, shutdown)
    }

    fn build(base: Base, lifetime: Duration, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Pages {
            base,
            slots: Mutex::new(HashMap::new()),
            lifetime,
            shutdown,
        })
    }

    /// Pages linked from `base` whose links work for `lifetime` (tests of expiry).
    #[cfg(test)]
    fn with_lifetime(base: &str, lifetime: Duration) -> Arc<Self> {
        Self::build(
            Base::Fixed(base.to_string()),
            lifetime,
            CancellationToken::new(),
        )
    }

    /// How long a link works.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a page asking for a secret for `owner` (the MCP client: its token's name, or
    /// empty); starts the on-demand listener if need be.
    pub async fn open(self: &Arc<Self>, info: PageInfo, owner: &str) -> Result<NewPage> {
        let base = self.base_url().await?;
        let id = crate::ids::random_id(16)?;
        let token = crate::ids::random_id(16)?;
        let mut slots = self.lock();
        let now = Instant::now();
        let mine = slots.iter().filter(|(_, s)| s.owner == owner);
        if mine.clone().count() >= MAX_OPEN_PER_OWNER
            && let Some(oldest) = mine
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            // A call waiting for it learns at once that it is gone.
            if let Some(gone) = slots.remove(&oldest) {
                gone.arrived.notify_one();
            }
        }
        if slots.len() >= MAX_OPEN {
            return Err(Error::Limit(format!(
                "{MAX_OPEN} secret pages are open, the most this server keeps; wait for them to expire"
            )));
        }
        slots.insert(
            id.clone(),
            Slot {
                info,
                owner: owner.to_string(),
                token,
                expires: now + self.lifetime,
                state: State::Waiting,
                arrived: Arc::new(Notify::new()),
            },
        );
        drop(slots);
        // A secret sent but never taken (the client did not come back) goes at expiry.
        let weak = Arc::downgrade(self);
        let lifetime = self.lifetime;
        tokio::spawn(async move {
            tokio::time::sleep(lifetime).await;
            if let Some(pages) = weak.upgrade() {
                drop(pages.lock());
            }
        });
        let url = format!("{base}/secrets/{id}");
        Ok(NewPage { id, url })
    }

    /// Waits for the secret of page `id`, until it arrives (the page is then gone), the link
    /// expires, `cancel` fires, or `deadline` passes (the page stays open).
    pub async fn wait(
        &self,
        id: &str,
        deadline: Duration,
        cancel: &CancellationToken,
    ) -> std::result::Result<Secret, NoSecret> {
        let until = Instant::now() + deadline;
        loop {
            let arrived = {
                let mut slots = self.lock();
                let Some(slot) = slots.get(id) else {
                    return Err(NoSecret::Expired);
                };
                if slot.expires <= Instant::now() {
                    slots.remove(id);
                    return Err(NoSecret::Expired);
                }
                if matches!(slot.state, State::Submitted(_)) {
                    return match slots.remove(id).map(|s| s.state) {
                        Some(State::Submitted(secret)) => Ok(secret),
                        _ => Err(NoSecret::Expired),
                    };
                }
                (slot.arrived.clone(), slot.expires.min(until))
            };
            if arrived.1 <= Instant::now() {
                return Err(NoSecret::StillOpen);
            }
            tokio::select! {
                _ = arrived.0.notified() => {}
                _ = tokio::time::sleep_until(arrived.1.into()) => {}
                _ = cancel.cancelled() => return Err(NoSecret::Cancelled),
            }
        }
    }

    /// Withdraws page `id` (the user declined, or the call gave up).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Whether page `id` still waits for its secret.
    pub fn is_open(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|s| s.expires > Instant::now() && matches!(s.state, State::Waiting))
    }

    /// What the page `id` shows and its form's token, while it waits for its secret.
    fn showing(&self, id: &str) -> Option<(PageInfo, String)> {
        let slots = self.lock();
        let slot = slots.get(id)?;
        (slot.expires > Instant::now() && matches!(slot.state, State::Waiting))
            .then(|| (slot.info.clone(), slot.token.clone()))
    }

    /// Takes a submission for page `id` if `token` is its form's; the page then shows no
    /// more. `Err` carries nothing: a wrong token, a used or an expired link look alike.
    fn submit(&self, id: &str, token: &str, secret: Secret) -> std::result::Result<(), ()> {
        let mut slots = self.lock();
        let slot = slots.get_mut(id).ok_or(())?;
        let fits = crate::secret::constant_time_eq(token.as_bytes(), slot.token.as_bytes());
        if !fits || slot.expires <= Instant::now() || !matches!(slot.state, State::Waiting) {
            return Err(());
        }
        slot.state = State::Submitted(secret);
        slot.arrived.notify_one();
        Ok(())
    }

    /// The origin (`scheme://host[:port]`) of the links, against which a submission's
    /// `Origin` header is checked.
    async fn origin(&self) -> Option<String> {
        let base = match &self.base {
            Base::Fixed(b) => b.clone(),
            Base::OnDemand(slot) => slot.lock().await.clone()?,
        };
        let after_scheme = base.find("://")? + 3;
        let end = base
            .get(after_scheme..)?
            .find('/')
            .map_or(base.len(), |i| i + after_scheme);
        base.get(..end).map(str::to_ascii_lowercase)
    }

    async fn base_url(self: &Arc<Self>) -> Result<String> {
        match &self.base {
            Base::Fixed(b) => Ok(b.clone()),
            Base::OnDemand(slot) => {
                let mut slot = slot.lock().await;
                if let Some(b) = slot.as_ref() {
                    return Ok(b.clone());
                }
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .map_err(|e| Error::io("starting the secret page listener", e))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Error::io("starting the secret page listener", e))?;
                let app = self.router();
                let stop = self.shutdown.clone();
                tokio::spawn(crate::serve_loop::serve_at_most(
                    listener,
                    app,
                    stop,
                    Some(MAX_CONNECTIONS),
                ));
                let base = format!("http://{addr}");
                tracing::info!(%base, "serving secret pages");
                *slot = Some(base.clone());
                Ok(base)
            }
        }
    }

    /// The open pages, expired ones (and the secrets they may hold) dropped first.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        slots.retain(|_, s| s.expires > now);
        slots
    }
}

#[cfg(test)]
mod tests;
