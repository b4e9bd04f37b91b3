//! `notifications/progress` for a request that carried a progress token.

use std::time::{Duration, Instant};

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use tokio::sync::mpsc;

/// A transfer reports when this long has passed since its last report…
const TRANSFER_EVERY: Duration = Duration::from_millis(500);
/// …or when this many more bytes are done (fast transfers still show progress).
const TRANSFER_STEP: u64 = 8 << 20;
/// Transfers smaller than this do not report.
const TRANSFER_MIN: u64 = 4 << 20;

/// Queues progress notifications for one request. The queue and its sending task are made
/// at the first report, so quick calls pay nothing for them.
pub struct Reporter {
    peer: Peer<RoleServer>,
    token: ProgressToken,
    queue: Option<(
        mpsc::Sender<ProgressNotificationParam>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Reporter {
    /// A reporter when the request asked for progress.
    pub fn for_request(ctx: &RequestContext<RoleServer>) -> Option<Self> {
        ctx.meta.get_progress_token().map(|token| Self {
            peer: ctx.peer.clone(),
            token,
            queue: None,
        })
    }

    /// Queues one report: `progress` must grow from one report to the next.
    pub fn send(&mut self, progress: f64, total: Option<f64>, message: String) {
        let mut p =
            ProgressNotificationParam::new(self.token.clone(), progress).with_message(message);
        if let Some(t) = total {
            p = p.with_total(t);
        }
        let (tx, _) = self.queue.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(4);
            (tx, tokio::spawn(forward(self.peer.clone(), rx)))
        });
        // A slow client must not slow the work: drop a report rather than wait.
        let _ = tx.try_send(p);
    }

    /// Closes the queue and waits until what is in it has been sent: no progress may
    /// follow the result.
    pub async fn finish(self) {
        if let Some((tx, task)) = self.queue {
            drop(tx);
            let _ = task.await;
        }
    }
}

async fn forward(peer: Peer<RoleServer>, mut rx: mpsc::Receiver<ProgressNotificationParam>) {
    while let Some(p) = rx.recv().await {
        if peer.notify_progress(p).await.is_err() {
            break;
        }
    }
}

/// Progress of a file transfer of a few MiB or more: bytes done of bytes in all, every
/// half second or every 8 MiB, whichever comes first.
pub struct TransferProgress {
    reporter: Option<Reporter>,
    verb: &'static str,
    last: Instant,
    last_done: u64,
}

impl TransferProgress {
    /// `verb` names the transfer in messages, e.g. "uploaded".
    pub fn new(ctx: &RequestContext<RoleServer>, verb: &'static str) -> Self {
        Self {
            reporter: Reporter::for_request(ctx),
            verb,
            last: Instant::now(),
            last_done: 0,
        }
    }

    /// Reports `done` of `total` bytes when the last report is old enough.
    pub fn update(&mut self, done: u64, total: u64) {
        let Some(r) = &mut self.reporter else { return };
        let due = self.last.elapsed() >= TRANSFER_EVERY || done - self.last_done >= TRANSFER_STEP;
        if total < TRANSFER_MIN || done <= self.last_done || !due {
            return;
        }
        self.last = Instant::now();
        self.last_done = done;
        let message = format!(
            "{} {} of {} MiB",
            self.verb,
            mib(done),
            mib(total.max(done))
        );
        r.send(done as f64, Some(total.max(done) as f64), message);
    }

    /// Waits until queued reports are sent.
    pub async fn finish(self) {
        if let Some(r) = self.reporter {
            r.finish().await;
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 20))
}
