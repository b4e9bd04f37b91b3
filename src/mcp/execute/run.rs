//! What `ssh_execute` does once called: the checks, the sudo password, the command's job,
//! and waiting on it up to `yield_after_secs` (or not at all, in the background).

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::InputRequiredResult;
use rmcp::service::RequestContext;
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_YIELD_SECS, MAX_JOB_OUTPUT, MAX_OUTPUT_CEILING};
use super::{effective_timeout, execute_result};
use crate::audit::Event;
use crate::error::Error;
use crate::manager::jobs::{Job, JobStatus};
use crate::mcp::SshMcp;
use crate::mcp::ask_sudo::SudoSecret;
use crate::mcp::progress::Reporter;
use crate::mcp::types::{ExecuteParams, ExecuteResult};
use crate::ssh::exec::{self, ExecRequest};
use crate::ssh::{command_line, sudo};

/// What `ssh_execute` did: ran the command, or asks the user for the sudo password first.
pub(super) enum Executed {
    Ran(ExecuteResult),
    AskFirst(InputRequiredResult),
}

/// How waiting on a foreground command ended.
enum Waited {
    /// The command ended (by itself, at its timeout, or stopped after a client cancel).
    Ended,
    /// It still runs at `yield_after_secs`: it goes on as a job.
    Yielded,
}

impl SshMcp {
    /// `ssh_execute`: checks, then runs the command as a job that the call waits for, up to
    /// `yield_after_secs` (a background call does not wait at all). The audit event gets
    /// what is known of the call as it goes. `answer`: the `requestState` and
    /// `inputResponses` answering the question for the sudo password.
    pub(super) async fn execute(
        &self,
        p: ExecuteParams,
        answer: (Option<&str>, Option<&rmcp::model::InputResponses>),
        ctx: &RequestContext<RoleServer>,
        event: &mut Event,
    ) -> Result<Executed, Error> {
        let settings = self.manager.settings();
        let background = p.background.unwrap_or(false);
        let timeout = effective_timeout(p.timeout_secs, background, settings)?;
        let limit = p
            .max_output_bytes
            .unwrap_or(settings.max_output_bytes)
            .min(if background {
                MAX_JOB_OUTPUT
            } else {
                MAX_OUTPUT_CEILING
            });
        let env: Vec<(String, String)> = p.env.unwrap_or_default().into_iter().collect();
        let cwd = p.cwd.filter(|c| !c.is_empty());
        command_line::check_request(&p.command, cwd.as_deref(), &env)?;
        settings.policy.check_command(&p.command)?;
        settings.policy.check_context(cwd.as_deref(), &env)?;
        // At `yield_after_secs` a foreground command becomes a job; never when it would
        // reach its timeout first.
        let yield_after = match p.yield_after_secs.unwrap_or(DEFAULT_YIELD_SECS) {
            0 => None,
            s => Some(Duration::from_secs(s)).filter(|y| timeout.is_none_or(|t| *y < t)),
        };
        let owner = Self::owner(ctx);
        let shown = p.command.clone();
        let mut req = ExecRequest {
            command: p.command,
            stdin: p.stdin.map(String::into_bytes),
            cwd,
            env,
            timeout,
            scrub: Vec::new(),
        };
        let sudo = if p.sudo.unwrap_or(false) {
            let entry = self.manager.get(&p.session_id, owner.as_deref())?;
            let secret = match self.sudo_secret(ctx, &entry, answer.0, answer.1).await? {
                SudoSecret::Known(secret) => secret,
                SudoSecret::AskFirst(question) => return Ok(Executed::AskFirst(question)),
            };
            let wrapped = sudo::wrap_request(&mut req, &secret)?;
            event.secret = Some("sudo");
            Some((wrapped, entry))
        } else {
            None
        };
        let used = self
            .manager
            .start_job(
                &p.session_id,
                owner.as_deref(),
                req,
                shown,
                limit,
                background,
            )
            .await?;
        event.host = Some(used.session.info.address.to_string());
        event.user = Some(used.session.info.username.clone());
        let job = used.value;
        if background {
            // The output so far, without taking it: the first `ssh_job` call gets it too.
            let mut result = execute_result(&job.peek());
            result.exit_code = None;
            result.exit_signal = None;
            result.job_id = Some(job.id.clone());
            result.status = Some(JobStatus::Running.as_str().into());
            result.reconnected |= used.reconnected;
            return Ok(Executed::Ran(result));
        }
        let waited = wait_foreground(&job, yield_after, timeout, ctx).await;
        if let Waited::Yielded = waited {
            // Before the first read: `from_start` then includes what this call returns.
            job.keep_all();
        }
        let report = job.read(false);
        let mut result = execute_result(&report);
        if let Some((e, entry)) = sudo
            .as_ref()
            .and_then(|(w, entry)| Some((w.failure(&result.stderr)?, entry)))
        {
            self.manager.jobs.forget(&job.id);
            // A typed password sudo refused is asked again next time.
            entry.forget_typed_sudo_secret();
            return Err(e);
        }
        result.reconnected |= used.reconnected;
        if let Waited::Yielded = waited {
            result.job_id = Some(job.id.clone());
            result.status = Some(JobStatus::Running.as_str().into());
            return Ok(Executed::Ran(result));
        }
        // The caller saw no job: it ends with its command.
        self.manager.jobs.forget(&job.id);
        match job.take_failure() {
            Some(e) => Err(e),
            None => Ok(Executed::Ran(result)),
        }
    }
}

/// Waits for a foreground command's job to end, reporting progress every [`exec::TICK`]
/// when the client asked for it; at `yield_after` it is left running. A client cancel
/// stops the command and waits (a bounded time) for its stop sequence.
async fn wait_foreground(
    job: &Job,
    yield_after: Option<Duration>,
    timeout: Option<Duration>,
    ctx: &RequestContext<RoleServer>,
) -> Waited {
    let started = std::time::Instant::now();
    let mut reporter = Reporter::for_request(ctx);
    let waited = loop {
        job.wait(exec::TICK, &ctx.ct).await;
        if job.is_finished() {
            break Waited::Ended;
        }
        if ctx.ct.is_cancelled() {
            job.kill();
            job.wait(exec::STOP_GRACE * 5, &CancellationToken::new())
                .await;
            break Waited::Ended;
        }
        if yield_after.is_some_and(|y| started.elapsed() >= y) {
            break Waited::Yielded;
        }
        if let Some(r) = &mut reporter {
            let elapsed = started.elapsed();
            let (bytes, line) = job.progress();
            let mut message = format!("{}s, {bytes} bytes of output", elapsed.as_secs());
            if let Some(line) = line {
                let line: String = line.chars().take(200).collect();
                message.push_str(&format!("; last line: {line}"));
            }
            // Progress is elapsed seconds (always increasing); total is the timeout.
            r.send(
                elapsed.as_secs_f64(),
                timeout.map(|t| t.as_secs_f64()),
                message,
            );
        }
    };
    // No progress may follow the result: close the queue and let it drain first.
    if let Some(r) = reporter {
        r.finish().await;
    }
    waited
}
