//! `ssh_execute` and `ssh_job`.

use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};

use crate::audit::{Decision, Event};
use crate::error::Error;
use crate::manager::RunCommand;
use crate::manager::jobs::{Job, JobStatus};
use crate::mcp::errors::tool_error;
use crate::mcp::progress::Reporter;
use crate::mcp::types::{ExecuteParams, ExecuteResult, JobParams, JobResult};
use crate::mcp::{SshMcp, schema};
use crate::ssh::command_line;
use crate::ssh::exec::{self, ExecRequest, OutputSink};
use crate::ssh::output::Capture;

/// Largest `max_output_bytes` a call may ask for (per stream).
pub const MAX_OUTPUT_CEILING: usize = 16 * 1024 * 1024;
/// Longest `wait_secs` of `ssh_job`.
pub const MAX_JOB_WAIT: Duration = Duration::from_secs(300);

#[tool_router(router = exec_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_execute",
        input_schema = schema::input::<ExecuteParams>(),
        output_schema = schema::output::<ExecuteResult>(),
        description = "Run a shell command on an open session and return stdout, stderr and \
exit_code (a non-zero exit code is a normal result). Each call runs on its own channel with no \
terminal; stdin is closed unless given. The command is stopped after timeout_secs (default 60): \
HUP and INT, then TERM, then KILL to its process group, and what it printed so far is returned \
with timed_out true. Output beyond max_output_bytes per stream keeps its head and tail with a \
marker. With background: true it returns a job_id once the server has accepted the command (at most \
5 s); poll it with ssh_job. A session whose \
connection died is reconnected transparently (reconnected: true).",
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
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ExecuteResult>, String> {
        const OP: &str = "Failed to execute command";
        let fail = |e: Error| tool_error(OP, &e);
        let settings = self.manager.settings();
        let background = p.background.unwrap_or(false);
        let timeout = effective_timeout(p.timeout_secs, background, settings).map_err(fail)?;
        let limit = p
            .max_output_bytes
            .unwrap_or(settings.max_output_bytes)
            .min(MAX_OUTPUT_CEILING);
        let env: Vec<(String, String)> = p.env.unwrap_or_default().into_iter().collect();
        command_line::check_request(&p.command, p.cwd.as_deref().filter(|c| !c.is_empty()), &env)
            .map_err(fail)?;
        let owner = Self::owner(&ctx);
        let audit_base = |decision, error: Option<String>| Event {
            tool: "ssh_execute",
            session_id: Some(p.session_id.trim().to_string()),
            command: Some(p.command.clone()),
            decision,
            error,
            ..Default::default()
        };
        let checked = settings.policy.check_command(&p.command).and_then(|()| {
            settings
                .policy
                .check_context(p.cwd.as_deref().filter(|c| !c.is_empty()), &env)
        });
        if let Err(e) = checked {
            self.audit(&ctx, audit_base(Decision::Refused, Some(e.to_string())));
            return Err(fail(e));
        }
        let mut event = audit_base(Decision::Allowed, None);
        let req = ExecRequest {
            command: p.command,
            stdin: p.stdin.map(String::into_bytes),
            cwd: p.cwd.filter(|c| !c.is_empty()),
            env,
            timeout,
        };
        let mut result = ExecuteResult {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            exit_signal: None,
            timed_out: false,
            truncated: false,
            stdout_bytes: 0,
            stderr_bytes: 0,
            duration_ms: 0,
            reconnected: false,
            job_id: None,
        };
        if background {
            let started = self
                .manager
                .start_job(&p.session_id, owner.as_deref(), req, limit)
                .await;
            let used = match started {
                Ok(used) => used,
                Err(e) => {
                    event.decision = Decision::Failed;
                    event.error = Some(e.to_string());
                    self.audit(&ctx, event);
                    return Err(fail(e));
                }
            };
            event.host = Some(used.session.info.address.to_string());
            event.user = Some(used.session.info.username.clone());
            result.reconnected = used.reconnected;
            result.job_id = Some(used.value.id.clone());
            event.job_id = Some(used.value.id.clone());
            self.audit(&ctx, event);
            return Ok(Json(result));
        }

        let mut sink = Foreground {
            stdout: Capture::new(limit),
            stderr: Capture::new(limit),
            reporter: Reporter::for_request(&ctx),
            timeout,
        };
        let mut op = RunCommand {
            req,
            sink: &mut sink,
            cancel: &ctx.ct,
            slot: None,
        };
        let ran = self
            .manager
            .with_session(&p.session_id, owner.as_deref(), &mut op)
            .await;
        drop(op);
        // No progress may follow the result: close the queue and let it drain first.
        if let Some(r) = sink.reporter.take() {
            r.finish().await;
        }
        let exit = match ran {
            Ok(used) => {
                event.host = Some(used.session.info.address.to_string());
                event.user = Some(used.session.info.username.clone());
                result.reconnected = used.reconnected;
                used.value
            }
            Err(e) => {
                event.decision = Decision::Failed;
                event.error = Some(e.to_string());
                self.audit(&ctx, event);
                return Err(fail(e));
            }
        };
        result.stdout = sink.stdout.render();
        result.stderr = sink.stderr.render();
        result.exit_code = exit.exit_code.map(i64::from);
        result.exit_signal = exit.exit_signal;
        result.timed_out = exit.timed_out;
        result.truncated = sink.stdout.truncated() || sink.stderr.truncated();
        result.stdout_bytes = sink.stdout.total();
        result.stderr_bytes = sink.stderr.total();
        result.duration_ms = millis(exit.duration);
        event.exit_code = result.exit_code;
        event.exit_signal = result.exit_signal.clone();
        event.timed_out = Some(result.timed_out);
        event.stdout_bytes = Some(result.stdout_bytes);
        event.stderr_bytes = Some(result.stderr_bytes);
        event.duration_ms = Some(result.duration_ms);
        self.audit(&ctx, event);
        Ok(Json(result))
    }

    #[tool(
        name = "ssh_job",
        input_schema = schema::input::<JobParams>(),
        output_schema = schema::output::<JobResult>(),
        description = "Follow a background job started by ssh_execute with background: true: \
returns its status (running, exited, killed, timed_out, failed), the output produced since the \
previous ssh_job call, and exit_code or exit_signal once finished. wait_secs waits for the job to \
finish first; kill: true stops it.",
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
        let (status, result) = job_result(&job);
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

/// What one `ssh_job` read returns, with the job's status at that read.
fn job_result(job: &Job) -> (JobStatus, JobResult) {
    let r = job.read();
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
fn effective_timeout(
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

/// Output of a foreground command, with optional progress reports.
struct Foreground {
    stdout: Capture,
    stderr: Capture,
    reporter: Option<Reporter>,
    /// The command's timeout: the `total` of progress reports.
    timeout: Option<Duration>,
}

impl OutputSink for Foreground {
    fn stdout(&mut self, data: &[u8]) {
        self.stdout.push(data);
    }

    fn stderr(&mut self, data: &[u8]) {
        self.stderr.push(data);
    }

    fn tick(&mut self, elapsed: Duration) {
        let Some(r) = &mut self.reporter else { return };
        let bytes = self.stdout.total() + self.stderr.total();
        let mut message = format!("{}s, {bytes} bytes of output", elapsed.as_secs());
        if let Some(line) = self.stdout.last_line().or_else(|| self.stderr.last_line()) {
            let line: String = line.chars().take(200).collect();
            message.push_str(&format!("; last line: {line}"));
        }
        // Progress is elapsed seconds (always increasing); total is the timeout.
        r.send(
            elapsed.as_secs_f64(),
            self.timeout.map(|t| t.as_secs_f64()),
            message,
        );
    }
}
