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
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::exec::Exit;

pub use super::job::{Job, JobSink, JobStatus, Report};

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
    /// error before that, such as a refused command, is returned instead of a job; one after
    /// it is the job's failure.
    pub async fn start(&self, meta: JobMeta, limit: usize, run: Runner) -> Result<Arc<Job>> {
        let id = format!("job-{}", random_id(8)?);
        self.prune(MAX_FINISHED, MAX_FINISHED_BYTES);
        if meta.keep_all {
            self.make_room(meta.owner.as_deref(), 4 * limit)?;
        }
        let job = Arc::new(Job::new(id, meta, limit));
        self.map().insert(job.id.clone(), job.clone());
        let task_job = job.clone();
        let map = self.map.clone();
        let (started_tx, started_rx) = oneshot::channel();
        tokio::spawn(async move {
            let sink = JobSink::new(task_job.clone(), started_tx);
            let cancel = task_job.cancel.clone();
            let (mut sink, result) = run(sink, cancel).await;
            tracing::info!(job_id = %task_job.id, ok = result.is_ok(), "job finished");
            match result {
                // Not started yet: the starting call reports it, if it still waits.
                Err(e) => match sink.take_started() {
                    Some(tx) => {
                        let chain = e.chain();
                        match tx.send(Err(e)) {
                            Ok(()) | Err(Ok(())) => task_job.finish_unstarted(chain),
                            // The starting call no longer waits: the job reports it.
                            Err(Err(e)) => task_job.finish(Err(e)),
                        }
                    }
                    None => task_job.finish(Err(e)),
                },
                other => task_job.finish(other),
            }
            prune(&map, MAX_FINISHED, MAX_FINISHED_BYTES);
        });
        // A command the server refuses (or a connection found dead) is the call's error,
        // not a job that failed at once. A command still waiting for a channel after
        // START_WAIT goes on in the background.
        let mut started_rx = started_rx;
        let early = match tokio::time::timeout(START_WAIT, &mut started_rx).await {
            Ok(r) => r.ok(),
            // Closed first, so that an error from now on goes to the job.
            Err(_) => {
                started_rx.close();
                started_rx.try_recv().ok()
            }
        };
        if let Some(Err(e)) = early {
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
        let meta = JobMeta {
            session_id: format!("session-of-{owner}"),
            owner: Some(owner.to_string()),
            command: "true".into(),
            keep_all: true,
        };
        let job = Job::new(id.to_string(), meta, 16);
        job.finish(Ok((Exit::default(), false)));
        job.lock().finished = Some(at);
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
