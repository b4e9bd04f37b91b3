//! What a connection keeps for SFTP: its cached channel (with the channel slot it holds)
//! and the temporary upload files still to remove. Kept apart from the code that opens the
//! channel ([`crate::ssh::sftp_channel`]), which needs the session.

use std::sync::{Arc, Mutex};

use russh_sftp::client::RawSftpSession;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::Result;

/// A cached SFTP channel and the channel permit it holds.
type Cached = Option<(Arc<RawSftpSession>, OwnedSemaphorePermit)>;

/// One connection's SFTP state.
#[derive(Default)]
pub struct SftpSlot {
    channel: tokio::sync::Mutex<Cached>,
    leftovers: Leftovers,
}

impl std::fmt::Debug for SftpSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpSlot")
            .field("leftovers", &self.leftovers)
            .finish()
    }
}

impl SftpSlot {
    /// The cached channel, made by `init` on first use (and again after [`Self::forget`]).
    pub async fn get_or_init<F, Fut>(&self, init: F) -> Result<Arc<RawSftpSession>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Arc<RawSftpSession>, OwnedSemaphorePermit)>>,
    {
        let mut slot = self.channel.lock().await;
        if let Some((raw, _)) = slot.as_ref() {
            return Ok(raw.clone());
        }
        let (raw, permit) = init().await?;
        *slot = Some((raw.clone(), permit));
        Ok(raw)
    }

    /// Drops the channel after it failed, so that the next use opens a new one.
    pub async fn forget(&self) {
        release(&mut *self.channel.lock().await);
    }

    /// Closes the channel and gives its permit back, unless it is being opened right now
    /// (which may itself wait for a permit).
    pub fn release_if_idle(&self) {
        if let Ok(mut slot) = self.channel.try_lock() {
            release(&mut slot);
        }
    }

    /// Temporary upload files still to remove.
    pub fn leftovers(&self) -> &Leftovers {
        &self.leftovers
    }
}

/// Closes a cached SFTP channel and gives its channel permit back.
fn release(slot: &mut Cached) {
    if let Some((raw, _permit)) = slot.take() {
        let _ = raw.close_session();
    }
}

/// Temporary upload files that were not removed when their upload ended: the connection
/// died, or the call was cancelled mid-way. The session's next SFTP use removes them, on the
/// same connection or on the one that replaced it (see [`Leftovers::move_to`]).
#[derive(Debug, Default)]
pub struct Leftovers(Mutex<Vec<String>>);

impl Leftovers {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the paths over to the session that replaces this one.
    pub fn move_to(&self, other: &Leftovers) {
        let paths = std::mem::take(&mut *self.lock());
        other.lock().extend(paths);
    }
}
