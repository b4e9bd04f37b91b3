//! `notifications/progress` for a request that carried a progress token.

use std::time::{Duration, Instant};

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use tokio::sync::watch;

/// A transfer reports when this long has passed since its last report…
const TRANSFER_EVERY: Duration = Duration::from_millis(500);
/// …or when this many more bytes are done (fast transfers still show progress).
const TRANSFER_STEP: u64 = 8 << 20;
/// Transfers smaller than this do not report.
const TRANSFER_MIN: u64 = 4 << 20;

/// Sends progress notifications for one request. Reports that come faster than the client
/// reads them are folded into the latest one, which is never lost. The sending task is made
/// at the first report, so quick calls pay nothing for it.
pub struct Reporter {
    peer: Peer<RoleServer>,
    token: ProgressToken,
    queue: Option<(
        watch::Sender<Option<ProgressNotificationParam>>,
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
            let (tx, rx) = watch::channel(None);
            let peer = self.peer.clone();
            let task = forward(rx, move |p| {
                let peer = peer.clone();
                async move { peer.notify_progress(p).await.is_ok() }
            });
            (tx, tokio::spawn(task))
        });
        // A slow client must not slow the work: a report it has not taken yet is replaced.
        tx.send_replace(Some(p));
    }

    /// Waits until the latest report has been sent: no progress may follow the result.
    pub async fn finish(self) {
        if let Some((tx, task)) = self.queue {
            drop(tx);
            let _ = task.await;
        }
    }
}

/// Sends each report not yet seen until `send` fails; a report made before the sender was
/// dropped is still seen (`changed` fails only once nothing new is left).
async fn forward<T: Clone, F, Fut>(mut rx: watch::Receiver<Option<T>>, send: F)
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while rx.changed().await.is_ok() {
        let Some(p) = rx.borrow_and_update().clone() else {
            continue;
        };
        if !send(p).await {
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::watch;

    use super::forward;

    /// Reports made faster than a slow client takes them are folded, and the last one is
    /// always sent, even when the sender is gone right after making it.
    #[tokio::test]
    async fn the_last_report_should_never_be_dropped() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = watch::channel(None);
        let log = seen.clone();
        let task = tokio::spawn(forward(rx, move |n: u32| {
            let log = log.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                log.lock().map(|mut l| l.push(n)).is_ok()
            }
        }));
        for n in 1..=40 {
            tx.send_replace(Some(n));
            tokio::task::yield_now().await;
        }
        drop(tx);
        task.await.ok();
        let seen = seen.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(seen.last(), Some(&40), "{seen:?}");
        assert!(seen.len() < 40, "nothing was folded: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }
}
