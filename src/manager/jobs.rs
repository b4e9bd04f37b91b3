//! Background jobs: commands started with `background: true`, or foreground commands still
//! running at `yield_after_secs`, polled with `ssh_job`.
//!
//! A job runs its command (through [`super::SessionManager::with_session`]) in its own
//! task. Its output is kept twice, each bounded head-and-tail like a foreground command:
//! what arrived since the previous read, and everything from the start. Jobs end, and are
//! forgotten, with their session. Finished jobs are forgotten after [`RETENTION`], or
//! sooner when more than [`MAX_FINISHED`] of one owner have piled up: the cap is per owner
//! (HTTP token), so one client's many short jobs never evict another client's unread
//! output.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::exec::{Exit, OutputSink};
use crate::ssh::output::Capture;

/// How long starting a job waits for the server to accept the command.
const START_WAIT: Duration = Duration::from_secs(5);

/// How long a finished job stays readable.
pub const RETENTION: Duration = Duration::from_secs(3600);
/// Finished jobs kept at most per owner (the oldest of that owner forgotten first).
pub const MAX_FINISHED: usize = 200;
/// Output bytes the jobs one owner follows may hold at most, running and finished.
pub const MAX_JOB_BYTES: usize = 64 * 1024 * 1024;
/// Output bytes the finished jobs of one owner keep at most (the oldest jobs of that owner
/// forgotten first): unread output must not pile up in the server.
pub const MAX_FINISHED_BYTES: usize = 64 * 1024 * 1024;

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
struct State {
    limit: usize,
    /// Output since the previous read.
    stdout: Capture,
    stderr: Capture,
    /// Output since the start (stdout, stderr), for jobs a caller can read again: background
    /// jobs, and foreground commands once they yielded.
    all: Option<(Capture, Capture)>,
    status: JobStatus,
    exit: Option<Exit>,
    error: Option<String>,
    /// The error itself, for a caller waiting on the job as its own command (see
    /// [`Job::take_failure`]).
    failure: Option<Error>,
    /// The session had to be reconnected for the command.
    reconnected: bool,
    finished: Option<Instant>,
}

impl State {
    /// Output bytes held now.
    fn kept(&self) -> usize {
        let all = self.all.as_ref().map_or(0, |(o, e)| o.kept() + e.kept());
        self.stdout.kept() + self.stderr.kept() + all
    }

    /// Output bytes it may come to hold.
    fn capacity(&self) -> usize {
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
    started: Instant,
    /// Stops the command (kill, or its session closing).
    cancel: CancellationToken,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
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
    fn finish_unstarted(&self, chain: String) {
        let mut st = self.lock();
        st.status = JobStatus::Failed;
        st.error = Some(chain);
        st.finished = Some(Instant::now());
        drop(st);
        self.done.send_replace(true);
    }

    /// Records how the job ended: its exit and whether the session was reconnected, or the
    /// error.
    fn finish(&self, result: Result<(Exit, bool)>) {
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

/// What a job's [`Runner`] is told: who started it, where, and the command.
pub struct JobMeta {
    pub session_id: String,
    pub owner: Option<String>,
    pub command: String,
    /// Keep the output since the start too (a job the caller will follow).
    pub keep_all: bool,
}

/// What a job runs: given the job's output sink and cancel token, the command's whole run,
/// handing the sink back with the outcome (and whether the session was reconnected).
pub type Runner = Box<
    dyn FnOnce(JobSink, CancellationToken) -> BoxFuture<'static, (JobSink, Result<(Exit, bool)>)>
        + Send,
>;

/// Feeds a job's output into its state, and tells [`Jobs::start`] once the server has
/// accepted the command.
pub struct JobSink {
    job: Arc<Job>,
    started: Option<oneshot::Sender<Result<()>>>,
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

/// Every job of the server.
#[derive(Debug, Default)]
pub struct Jobs {
    /// Shared with the jobs' tasks, which forget what no longer fits once they end.
    map: Arc<Mutex<HashMap<String, Arc<Job>>>>,
}

type JobMap = Mutex<HashMap<String, Arc<Job>>>;

fn lock_map(map: &JobMap) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Job>>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Job>>> {
        lock_map(&self.map)
    }

    /// Starts a job under a new random id: `run` gets the job's output sink and cancel
    /// token and runs the command (retries included). Returns once the server has accepted
    /// the command, or after [`START_WAIT`] (the command may be waiting for a channel); an
    /// error before that, such as a refused command, is returned instead of a job.
    pub async fn start(&self, meta: JobMeta, limit: usize, run: Runner) -> Result<Arc<Job>> {
        let id = format!("job-{}", random_id(8)?);
        self.prune(MAX_FINISHED, MAX_FINISHED_BYTES);
        if meta.keep_all {
            self.make_room(meta.owner.as_deref(), 4 * limit)?;
        }
        let (done, _) = watch::channel(false);
        let job = Arc::new(Job {
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
        });
        self.map().insert(job.id.clone(), job.clone());
        let task_job = job.clone();
        let map = self.map.clone();
        let (started_tx, started_rx) = oneshot::channel();
        tokio::spawn(async move {
            let sink = JobSink {
                job: task_job.clone(),
                started: Some(started_tx),
            };
            let cancel = task_job.cancel.clone();
            let (mut sink, result) = run(sink, cancel).await;
            tracing::info!(job_id = %task_job.id, ok = result.is_ok(), "job finished");
            match result {
                // Not started yet: the starting call reports it, if it still waits.
                Err(e) if sink.started.is_some() => {
                    task_job.finish_unstarted(e.chain());
                    if let Some(tx) = sink.started.take() {
                        let _ = tx.send(Err(e));
                    }
                }
                other => task_job.finish(other),
            }
            prune(&map, MAX_FINISHED, MAX_FINISHED_BYTES);
        });
        // A command the server refuses (or a connection found dead) is the call's error,
        // not a job that failed at once. A command still waiting for a channel after
        // START_WAIT goes on in the background.
        if let Ok(Ok(Err(e))) = tokio::time::timeout(START_WAIT, started_rx).await {
            self.map().remove(&job.id);
            return Err(e);
        }
        Ok(job)
    }

    /// The job with this id, if `owner` started it.
    pub fn get(&self, id: &str, owner: Option<&str>) -> Result<Arc<Job>> {
        self.map()
            .get(id.trim())
            .filter(|j| j.owner.as_deref() == owner)
            .cloned()
            .ok_or_else(|| Error::JobNotFound(id.to_string()))
    }

    /// Jobs of a session, oldest first.
    pub fn of_session(&self, session_id: &str) -> Vec<Arc<Job>> {
        let mut v: Vec<_> = self
            .map()
            .values()
            .filter(|j| j.session_id == session_id)
            .cloned()
            .collect();
        v.sort_by_key(|j| j.started);
        v
    }

    /// Whether a session has a running job.
    pub fn has_running(&self, session_id: &str) -> bool {
        self.of_session(session_id)
            .iter()
            .any(|j| j.status() == JobStatus::Running)
    }

    /// Forgets a job (a foreground command, which ran as a job until it ended).
    pub fn forget(&self, id: &str) {
        self.map().remove(id);
    }

    /// Stops and forgets the jobs of a session that is closing: a job is listed with its
    /// session and readable only as long as the session is.
    pub fn session_closed(&self, session_id: &str) {
        let mut map = self.map();
        map.retain(|_, j| {
            if j.session_id == session_id {
                j.kill();
                false
            } else {
                true
            }
        });
    }

    /// Makes room for a job that may hold `need` bytes of output among the jobs of `owner`
    /// that a caller follows: running ones count what they may hold, finished ones what
    /// they hold, and the oldest finished ones are forgotten first. Refuses when the
    /// running ones alone leave no room.
    fn make_room(&self, owner: Option<&str>, need: usize) -> Result<()> {
        let mut map = self.map();
        let mut running = 0usize;
        let mut finished: Vec<(Instant, usize, String)> = Vec::new();
        for j in map.values().filter(|j| j.owner.as_deref() == owner) {
            let st = j.lock();
            if st.all.is_none() {
                continue;
            }
            match st.finished {
                None => running = running.saturating_add(st.capacity()),
                Some(f) => finished.push((f, st.kept(), j.id.clone())),
            }
        }
        finished.sort();
        let mut held = running + finished.iter().map(|f| f.1).sum::<usize>();
        for (_, kept, id) in finished {
            if held.saturating_add(need) <= MAX_JOB_BYTES {
                break;
            }
            map.remove(&id);
            held -= kept;
        }
        if held.saturating_add(need) > MAX_JOB_BYTES {
            return Err(Error::Limit(format!(
                "running jobs may already hold {} MiB of output for this client, the most this server keeps; read them with ssh_job, wait for them, or start this one with a smaller max_output_bytes",
                running / (1024 * 1024)
            )));
        }
        Ok(())
    }

    fn prune(&self, per_owner: usize, bytes: usize) {
        prune(&self.map, per_owner, bytes);
    }
}

/// Forgets finished jobs past their retention, and of each owner the oldest finished ones
/// past `per_owner` jobs or past `bytes` of kept output.
fn prune(map: &JobMap, per_owner: usize, bytes: usize) {
    let mut map = lock_map(map);
    map.retain(|_, j| j.lock().finished.is_none_or(|f| f.elapsed() < RETENTION));
    let mut finished: HashMap<Option<String>, Vec<(Instant, usize, String)>> = HashMap::new();
    for j in map.values() {
        let st = j.lock();
        if let Some(f) = st.finished {
            let kept = st.kept();
            finished
                .entry(j.owner.clone())
                .or_default()
                .push((f, kept, j.id.clone()));
        }
    }
    for mut jobs in finished.into_values() {
        // Newest first: they stay while the owner's count and bytes allow.
        jobs.sort_by_key(|j| std::cmp::Reverse(j.0));
        let mut total = 0usize;
        for (n, (_, kept, id)) in jobs.into_iter().enumerate() {
            total = total.saturating_add(kept);
            if n >= per_owner || total > bytes {
                map.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job of `owner` that finished `ago` before now (false when the monotonic clock
    /// does not reach back that far, as just after boot).
    fn finished(jobs: &Jobs, id: &str, owner: &str, ago: Duration) -> bool {
        let Some(at) = Instant::now().checked_sub(ago) else {
            return false;
        };
        let (done, _) = watch::channel(true);
        let job = Job {
            id: id.to_string(),
            session_id: format!("session-of-{owner}"),
            owner: Some(owner.to_string()),
            command: "true".into(),
            started_at: SystemTime::now(),
            started: Instant::now(),
            cancel: CancellationToken::new(),
            state: Mutex::new(State {
                limit: 16,
                stdout: Capture::new(16),
                stderr: Capture::new(16),
                all: Some((Capture::new(16), Capture::new(16))),
                status: JobStatus::Exited,
                exit: Some(Exit::default()),
                error: None,
                failure: None,
                reconnected: false,
                finished: Some(at),
            }),
            done,
        };
        jobs.map().insert(job.id.clone(), Arc::new(job));
        true
    }

    #[test]
    fn prune_should_cap_the_output_finished_jobs_keep_per_owner() {
        let jobs = Jobs::default();
        for i in 0..10u64 {
            assert!(finished(
                &jobs,
                &format!("big-{i}"),
                "mallory",
                Duration::from_secs(20 - i)
            ));
            // 16 bytes kept in each of the four captures: 64 per job.
            let job = jobs.get(&format!("big-{i}"), Some("mallory")).unwrap();
            let mut st = job.lock();
            st.stdout.push(&[b'x'; 16]);
            st.stderr.push(&[b'x'; 16]);
            if let Some((o, e)) = &mut st.all {
                o.push(&[b'x'; 16]);
                e.push(&[b'x'; 16]);
            }
        }
        assert!(finished(&jobs, "alice-1", "alice", Duration::from_secs(30)));
        jobs.prune(MAX_FINISHED, 64 * 3);
        // The newest three of Mallory's stay; Alice's are hers to keep.
        for i in 0..7u64 {
            assert!(
                jobs.get(&format!("big-{i}"), Some("mallory")).is_err(),
                "{i}"
            );
        }
        for i in 7..10u64 {
            assert!(
                jobs.get(&format!("big-{i}"), Some("mallory")).is_ok(),
                "{i}"
            );
        }
        assert!(jobs.get("alice-1", Some("alice")).is_ok());
    }

    #[test]
    fn prune_should_cap_finished_jobs_per_owner() {
        let jobs = Jobs::default();
        // Alice's two jobs finished long ago (but within the retention); Mallory then
        // finishes many more, all newer.
        assert!(finished(&jobs, "alice-1", "alice", Duration::from_secs(60)));
        assert!(finished(&jobs, "alice-2", "alice", Duration::from_secs(50)));
        for i in 0..10u64 {
            let id = format!("mallory-{i}");
            assert!(finished(&jobs, &id, "mallory", Duration::from_secs(40 - i)));
        }
        jobs.prune(3, MAX_FINISHED_BYTES);
        assert!(jobs.get("alice-1", Some("alice")).is_ok());
        assert!(jobs.get("alice-2", Some("alice")).is_ok());
        // Mallory keeps only the newest three of his own.
        let kept: Vec<String> = (0..10)
            .map(|i| format!("mallory-{i}"))
            .filter(|id| jobs.get(id, Some("mallory")).is_ok())
            .collect();
        assert_eq!(kept, ["mallory-7", "mallory-8", "mallory-9"]);
    }

    #[test]
    fn prune_should_forget_jobs_past_their_retention() {
        let jobs = Jobs::default();
        if !finished(&jobs, "old", "alice", RETENTION + Duration::from_secs(1)) {
            eprintln!("skipped: the monotonic clock starts less than an hour ago");
            return;
        }
        assert!(finished(&jobs, "new", "alice", Duration::from_secs(1)));
        jobs.prune(MAX_FINISHED, MAX_FINISHED_BYTES);
        assert!(jobs.get("old", Some("alice")).is_err());
        assert!(jobs.get("new", Some("alice")).is_ok());
    }
}
