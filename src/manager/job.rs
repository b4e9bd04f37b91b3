//! One job: its output (since the previous read, and since the start), its outcome, and the
//! sink its command writes into. The registry of jobs is in [`super::jobs`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ssh::exec::{Exit, OutputSink};
use crate::ssh::output::Capture;

use super::jobs::JobMeta;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    /// The command ended by itself (`exit_code`, or `exit_signal` for an outside signal).
    Exited,
    /// Stopped by `ssh_job kill`, or because its session was closed.
    Killed,
    /// Stopped at its timeout.
    TimedOut,
    /// Could not run, or its connection died (`error` says why).
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Exited => "exited",
            Self::Killed => "killed",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
        }
    }
}

/// Output and outcome of a job, guarded by the job's mutex.
#[derive(Debug)]
pub(super) struct State {
    limit: usize,
    /// Output since the previous read.
    pub(super) stdout: Capture,
    pub(super) stderr: Capture,
    /// Output since the start (stdout, stderr), for jobs a caller can read again: background
    /// jobs, and foreground commands once they yielded.
    pub(super) all: Option<(Capture, Capture)>,
    status: JobStatus,
    exit: Option<Exit>,
    error: Option<String>,
    /// The error itself, for a caller waiting on the job as its own command (see
    /// [`Job::take_failure`]).
    failure: Option<Error>,
    /// The session had to be reconnected for the command.
    reconnected: bool,
    pub(super) finished: Option<Instant>,
}

impl State {
    /// Output bytes held now.
    pub(super) fn kept(&self) -> usize {
        let all = self.all.as_ref().map_or(0, |(o, e)| o.kept() + e.kept());
        self.stdout.kept() + self.stderr.kept() + all
    }

    /// Output bytes it may come to hold.
    pub(super) fn capacity(&self) -> usize {
        self.limit * if self.all.is_some() { 4 } else { 2 }
    }
}

/// One background job.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub session_id: String,
    /// The owner of the job's session.
    pub owner: Option<String>,
    pub command: String,
    pub started_at: SystemTime,
    pub(super) started: Instant,
    /// Stops the command (kill, or its session closing).
    pub(super) cancel: CancellationToken,
    state: Mutex<State>,
    /// Becomes true when the job has finished.
    done: watch::Sender<bool>,
}

/// What one `ssh_job` read returns.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: JobStatus,
    /// Output since the previous read.
    pub stdout: Capture,
    pub stderr: Capture,
    pub exit: Option<Exit>,
    pub error: Option<String>,
    pub elapsed: Duration,
    /// The session had to be reconnected for the command.
    pub reconnected: bool,
}

impl Job {
    /// A running job under `id` whose output is bounded by `limit` per stream.
    pub(super) fn new(id: String, meta: JobMeta, limit: usize) -> Self {
        let (done, _) = watch::channel(false);
        Job {
            id,
            session_id: meta.session_id,
            owner: meta.owner,
            command: meta.command,
            started_at: SystemTime::now(),
            started: Instant::now(),
            cancel: CancellationToken::new(),
            state: Mutex::new(State {
                limit,
                stdout: Capture::new(limit),
                stderr: Capture::new(limit),
                all: meta
                    .keep_all
                    .then(|| (Capture::new(limit), Capture::new(limit))),
                status: JobStatus::Running,
                exit: None,
                error: None,
                failure: None,
                reconnected: false,
                finished: None,
            }),
            done,
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> JobStatus {
        self.lock().status
    }

    /// Stops the job (no-op when finished).
    pub fn kill(&self) {
        self.cancel.cancel();
    }

    /// Waits until the job finishes, `limit` passes, or `cancel` fires.
    pub async fn wait(&self, limit: Duration, cancel: &CancellationToken) {
        let mut rx = self.done.subscribe();
        tokio::select! {
            _ = rx.wait_for(|d| *d) => {}
            _ = tokio::time::sleep(limit) => {}
            _ = cancel.cancelled() => {}
        }
    }

    /// Takes the output that arrived since the previous read; with `from_start`, all the
    /// output kept since the start instead (the next read then starts after it too).
    pub fn read(&self, from_start: bool) -> Report {
        let mut st = self.lock();
        let limit = st.limit;
        let (stdout, stderr) = (
            std::mem::replace(&mut st.stdout, Capture::new(limit)),
            std::mem::replace(&mut st.stderr, Capture::new(limit)),
        );
        let (stdout, stderr) = match &st.all {
            Some((o, e)) if from_start => (o.clone(), e.clone()),
            _ => (stdout, stderr),
        };
        self.report(&st, stdout, stderr)
    }

    /// All the output kept since the start, without taking anything.
    pub fn peek(&self) -> Report {
        let st = self.lock();
        let (stdout, stderr) = match &st.all {
            Some((o, e)) => (o.clone(), e.clone()),
            None => (st.stdout.clone(), st.stderr.clone()),
        };
        self.report(&st, stdout, stderr)
    }

    fn report(&self, st: &State, stdout: Capture, stderr: Capture) -> Report {
        Report {
            status: st.status,
            stdout,
            stderr,
            exit: st.exit.clone(),
            error: st.error.clone(),
            reconnected: st.reconnected,
            elapsed: st
                .exit
                .as_ref()
                .map_or_else(|| self.started.elapsed(), |e| e.duration),
        }
    }

    /// From now on keeps the output since the start too (a foreground command that becomes
    /// a job): nothing has been read yet, so that is what was kept for the first read.
    pub fn keep_all(&self) {
        let mut st = self.lock();
        if st.all.is_none() {
            st.all = Some((st.stdout.clone(), st.stderr.clone()));
        }
    }

    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.lock().finished.is_some()
    }

    /// Bytes of output so far and the last line written, for progress reports.
    pub fn progress(&self) -> (u64, Option<String>) {
        let st = self.lock();
        let line = st.stdout.last_line().or_else(|| st.stderr.last_line());
        (st.stdout.total() + st.stderr.total(), line)
    }

    /// The error the job failed with, once (its chain stays in the reports).
    pub fn take_failure(&self) -> Option<Error> {
        self.lock().failure.take()
    }

    /// Records a job whose command never started; the starting call has the error.
    pub(super) fn finish_unstarted(&self, chain: String) {
        let mut st = self.lock();
        st.status = JobStatus::Failed;
        st.error = Some(chain);
        st.finished = Some(Instant::now());
        drop(st);
        self.done.send_replace(true);
    }

    /// Records how the job ended: its exit and whether the session was reconnected, or the
    /// error.
    pub(super) fn finish(&self, result: Result<(Exit, bool)>) {
        let mut st = self.lock();
        st.status = match &result {
            _ if self.cancel.is_cancelled() => JobStatus::Killed,
            Ok((e, _)) if e.timed_out => JobStatus::TimedOut,
            Ok(_) => JobStatus::Exited,
            Err(_) => JobStatus::Failed,
        };
        match result {
            Ok((e, reconnected)) => {
                st.exit = Some(e);
                st.reconnected = reconnected;
            }
            Err(e) => {
                st.error = Some(e.chain());
                st.failure = Some(e);
            }
        }
        st.finished = Some(Instant::now());
        drop(st);
        self.done.send_replace(true);
    }
}

/// Feeds a job's output into its state, and tells [`super::jobs::Jobs::start`] once the
/// server has accepted the command.
pub struct JobSink {
    job: Arc<Job>,
    started: Option<oneshot::Sender<Result<()>>>,
}

impl JobSink {
    pub(super) fn new(job: Arc<Job>, started: oneshot::Sender<Result<()>>) -> Self {
        Self {
            job,
            started: Some(started),
        }
    }

    /// The way to report the start, until the server has accepted the command.
    pub(super) fn take_started(&mut self) -> Option<oneshot::Sender<Result<()>>> {
        self.started.take()
    }
}

impl OutputSink for JobSink {
    fn stdout(&mut self, data: &[u8]) {
        let mut st = self.job.lock();
        st.stdout.push(data);
        if let Some((all, _)) = &mut st.all {
            all.push(data);
        }
    }
    fn stderr(&mut self, data: &[u8]) {
        let mut st = self.job.lock();
        st.stderr.push(data);
        if let Some((_, all)) = &mut st.all {
            all.push(data);
        }
    }
    fn started(&mut self) {
        if let Some(tx) = self.started.take() {
            let _ = tx.send(Ok(()));
        }
    }
}
