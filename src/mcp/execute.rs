//! `ssh_execute` and `ssh_job`: the tools, their audit lines and results; running the
//! command is in [`run`].

mod run;

use std::time::Duration;

use rmcp::handler::server::tool::{InputResponses, IntoCallToolResult, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::structured::Json;

use crate::audit::{Decision, Event};
use crate::error::Error;
use crate::manager::jobs::{Job, JobStatus, Report};
use crate::mcp::errors::tool_error;
use crate::mcp::types::{ExecuteParams, ExecuteResult, JobParams, JobResult};
use crate::mcp::{SshMcp, schema};
use crate::ssh::exec;
use run::Executed;

/// Largest `max_output_bytes` a call may ask for (per stream).
pub const MAX_OUTPUT_CEILING: usize = 16 * 1024 * 1024;
/// Largest `max_output_bytes` of a background job (per stream, between two reads): a job
/// keeps its output for the caller, so it is held longer than a call's.
pub const MAX_JOB_OUTPUT: usize = 1024 * 1024;
/// Seconds a foreground command may run before the call returns it as a job.
pub const DEFAULT_YIELD_SECS: u64 = 45;
/// Longest `wait_secs` of `ssh_job`.
/// (Clients often give up on a call after about a minute.)
pub const MAX_JOB_WAIT: Duration = Duration::from_secs(50);

#[tool_router(router = exec_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_execute",
        input_schema = schema::input::<ExecuteParams>(),
        output_schema = schema::output::<ExecuteResult>(),
        description = "Run a shell command; returns stdout, stderr and exit_code (non-zero is a normal result). No terminal: prompts (read -p) are not shown and many programs will not ask; give answers on stdin. At timeout_secs the command's process group gets HUP and INT, then TERM, then KILL. Large output keeps its head and tail. With background, or still running at yield_after_secs, it continues as a job: follow it with ssh_job.",
        annotations(
            title = "Run a command over SSH",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn ssh_execute(
        &self,
        Parameters(p): Parameters<ExecuteParams>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        const OP: &str = "Failed to execute command";
        let mut event = Event {
            tool: "ssh_execute",
            session_id: Some(p.session_id.trim().to_string()),
            command: Some(p.command.clone()),
            ..Default::default()
        };
        let answer = (state.as_deref(), responses.as_ref());
        let outcome = match self.execute(p, answer, &ctx, &mut event).await {
            Ok(Executed::AskFirst(question)) => return Ok(question.into()),
            Ok(Executed::Ran(r)) => Ok(r),
            Err(e) => Err(e),
        };
        if let Ok(r) = &outcome {
            event.exit_code = r.exit_code;
            event.exit_signal = r.exit_signal.clone();
            event.timed_out = r.job_id.is_none().then_some(r.timed_out);
            event.stdout_bytes = Some(r.stdout_bytes);
            event.stderr_bytes = Some(r.stderr_bytes);
            event.duration_ms = Some(r.duration_ms);
            event.job_id = r.job_id.clone();
        }
        self.audit_outcome(&ctx, event, &outcome);
        match outcome {
            Ok(r) => Json(r)
                .into_call_tool_result()
                .map_err(|e| format!("{OP}: {}", e.message)),
            Err(e) => Err(tool_error(OP, &e)),
        }
    }

    #[tool(
        name = "ssh_job",
        input_schema = schema::input::<JobParams>(),
        output_schema = schema::output::<JobResult>(),
        description = "Follow a job from ssh_execute: status, exit_code once ended, and the output new since the previous call (from_start: all of it).",
        annotations(
            title = "Follow a background job",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn ssh_job(
        &self,
        Parameters(p): Parameters<JobParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<JobResult>, String> {
        let job = match self
            .manager
            .jobs
            .get(&p.job_id, Self::owner(&ctx).as_deref())
        {
            Ok(job) => job,
            Err(e) => {
                self.audit(
                    &ctx,
                    Event {
                        tool: "ssh_job",
                        job_id: Some(p.job_id.trim().to_string()),
                        decision: Decision::Failed,
                        error: Some(e.to_string()),
                        ..Default::default()
                    },
                );
                return Err(tool_error("Failed to read job", &e));
            }
        };
        let event = Event {
            tool: "ssh_job",
            session_id: Some(job.session_id.clone()),
            command: Some(job.command.clone()),
            job_id: Some(job.id.clone()),
            decision: Decision::Allowed,
            ..Default::default()
        };
        let kill = p.kill.unwrap_or(false);
        if kill {
            // A kill is recorded before it is done (one line per call all the same).
            self.audit(
                &ctx,
                Event {
                    target: Some("kill".into()),
                    ..event.clone()
                },
            );
            job.kill();
            job.wait(exec::STOP_GRACE * 4, &ctx.ct).await;
        }
        let wait = Duration::from_secs(p.wait_secs.unwrap_or(0)).min(MAX_JOB_WAIT);
        if !wait.is_zero() && job.status() == JobStatus::Running {
            job.wait(wait, &ctx.ct).await;
        }
        let (status, result) = job_result(&job, p.from_start.unwrap_or(false));
        if kill {
            return Ok(Json(result));
        }
        self.audit(
            &ctx,
            Event {
                exit_code: result.exit_code,
                exit_signal: result.exit_signal.clone(),
                timed_out: (status != JobStatus::Running).then_some(status == JobStatus::TimedOut),
                stdout_bytes: Some(result.stdout_bytes),
                stderr_bytes: Some(result.stderr_bytes),
                duration_ms: Some(result.duration_ms),
                error: result.error.clone(),
                ..event
            },
        );
        Ok(Json(result))
    }
}

impl SshMcp {
    /// Records an audit event with the decision the outcome implies.
    fn audit_outcome<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        mut event: Event,
        outcome: &Result<T, Error>,
    ) {
        event.decision = Decision::of(outcome);
        event.error = outcome.as_ref().err().map(|e| e.to_string());
        self.audit(ctx, event);
    }
}

/// The result of `ssh_execute` from what the command's job has so far.
fn execute_result(r: &Report) -> ExecuteResult {
    let exit = r.exit.clone().unwrap_or_default();
    ExecuteResult {
        stdout: r.stdout.render(),
        stderr: r.stderr.render(),
        exit_code: exit.exit_code.map(i64::from),
        exit_signal: exit.exit_signal,
        timed_out: exit.timed_out,
        truncated: r.stdout.truncated() || r.stderr.truncated(),
        stdout_bytes: r.stdout.total(),
        stderr_bytes: r.stderr.total(),
        duration_ms: millis(r.elapsed),
        reconnected: r.reconnected,
        job_id: None,
        status: None,
    }
}

/// What one `ssh_job` read returns, with the job's status at that read.
fn job_result(job: &Job, from_start: bool) -> (JobStatus, JobResult) {
    let r = job.read(from_start);
    let exit = r.exit.unwrap_or_default();
    let result = JobResult {
        job_id: job.id.clone(),
        session_id: job.session_id.clone(),
        command: job.command.clone(),
        status: r.status.as_str().into(),
        stdout: r.stdout.render(),
        stderr: r.stderr.render(),
        exit_code: exit.exit_code.map(i64::from),
        exit_signal: exit.exit_signal,
        truncated: r.stdout.truncated() || r.stderr.truncated(),
        stdout_bytes: r.stdout.total(),
        stderr_bytes: r.stderr.total(),
        duration_ms: millis(r.elapsed),
        error: r.error,
    };
    (r.status, result)
}

/// The timeout of a call: `timeout_secs`, or the default (foreground) or the maximum
/// (background); `0` means none, which only an operator without a maximum allows.
pub(crate) fn effective_timeout(
    asked: Option<u64>,
    background: bool,
    settings: &crate::config::settings::Settings,
) -> Result<Option<Duration>, Error> {
    let max = settings.max_command_timeout;
    let wanted = match asked {
        None if background => max,
        None => Some(settings.command_timeout),
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
    };
    match (wanted, max) {
        (None, Some(m)) => Err(Error::InvalidArgument(format!(
            "timeout_secs 0 (no limit) is not allowed here; the maximum is {} s. Use background: true and ssh_job for long jobs",
            m.as_secs()
        ))),
        (Some(w), Some(m)) if w > m => Err(Error::InvalidArgument(format!(
            "timeout_secs {} exceeds this server's maximum of {} s",
            w.as_secs(),
            m.as_secs()
        ))),
        (w, _) => Ok(w),
    }
}

/// A duration in whole milliseconds, for results.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
