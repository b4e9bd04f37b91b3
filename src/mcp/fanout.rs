//! `ssh_fanout`: one command on many hosts at once, with results grouped the way an
//! operator reads them.
//!
//! - [`targets`]: what the targets stand for (named hosts, globs, `@group`s, sessions).
//! - [`run`]: one host: its session, its command, its outcome.
//! - [`groups`]: folding outcomes into groups of identical results, under a size bound.
//! - [`view`]: the text view (`web[01-12]`).
//! - [`types`]: parameters and result.
//!
//! Everything that can be refused is refused before any host is reached: the command
//! policy, targets that name nothing, more hosts than `--max-fanout`. Then at most
//! `concurrency` hosts connect or run at once, each in a task of its own (a slow host
//! holds up no other call); cancelling the call stops every running command.

pub mod groups;
mod run;
pub mod targets;
pub mod types;
pub mod view;

use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::audit::{Decision, Event};
use crate::error::Error;
use crate::mcp::confirm::{self, Asking};
use crate::mcp::errors::tool_error;
use crate::mcp::execute::{effective_timeout, millis};
use crate::mcp::progress::Reporter;
use crate::mcp::{SshMcp, schema};
use crate::ssh::command_line;
use crate::ssh::exec::ExecRequest;
use groups::{Outcome, RESULT_LIMIT};
use run::{HostReport, HostRun};
use targets::Target;
use types::{FanoutParams, FanoutResult};

/// Hosts at once when the call does not say.
pub const DEFAULT_CONCURRENCY: u64 = 16;
/// Most hosts at once a call may ask for.
pub const MAX_CONCURRENCY: u64 = 64;
/// Bytes kept per host and stream when the call does not say.
pub const DEFAULT_HOST_OUTPUT: usize = 4096;
/// Most bytes kept per host and stream.
pub const MAX_HOST_OUTPUT: usize = 64 * 1024;

#[tool_router(router = fanout_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_fanout",
        input_schema = schema::input::<FanoutParams>(),
        output_schema = schema::output::<FanoutResult>(),
        description = "Run one command on many hosts in parallel. Hosts with identical exit status and output form one group; hosts where it could not run are in errors. Named hosts connect with their own credentials and stay connected.",
        annotations(
            title = "Run a command on many hosts",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn ssh_fanout(
        &self,
        Parameters(p): Parameters<FanoutParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        let command = p.command.clone();
        match self.fanout(p, &ctx).await {
            Ok(result) => {
                let r = crate::mcp::structured::with_text(&result, view::render(&result))
                    .map_err(|e| format!("Failed to fan out: {}", e.message))?;
                Ok(r.into())
            }
            Err(e) => {
                self.audit(
                    &ctx,
                    Event {
                        tool: "ssh_fanout",
                        command: Some(command),
                        decision: Decision::of_error(&e),
                        error: Some(e.to_string()),
                        ..Default::default()
                    },
                );
                Err(tool_error("Failed to fan out", &e))
            }
        }
    }
}

impl SshMcp {
    /// Checks everything, then runs the command on every host (see the module doc).
    async fn fanout(
        &self,
        p: FanoutParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<FanoutResult, Error> {
        let started = Instant::now();
        let settings = self.manager.settings();
        let concurrency = match p.concurrency.unwrap_or(DEFAULT_CONCURRENCY) {
            c @ 1..=MAX_CONCURRENCY => usize::try_from(c).unwrap_or(1),
            c => {
                return Err(Error::InvalidArgument(format!(
                    "concurrency {c} is out of range: 1 to {MAX_CONCURRENCY}"
                )));
            }
        };
        let timeout = effective_timeout(p.timeout_secs, false, settings)?;
        let limit = p
            .max_output_bytes
            .unwrap_or(DEFAULT_HOST_OUTPUT)
            .min(MAX_HOST_OUTPUT);
        let env: Vec<(String, String)> = p.env.unwrap_or_default().into_iter().collect();
        let cwd = p.cwd.filter(|c| !c.is_empty());
        command_line::check_request(&p.command, cwd.as_deref(), &env)?;
        settings.policy.check_command(&p.command)?;
        settings.policy.check_context(cwd.as_deref(), &env)?;
        let owner = Self::owner(ctx);
        let targets = targets::expand(
            &p.targets,
            &settings.hosts,
            &settings.groups,
            |id| self.manager.get(id, owner.as_deref()).is_ok(),
            settings.max_fanout,
        )?;
        let targets = targets::once_per_session(targets, |name| {
            self.manager
                .named_session(name, owner.as_deref())
                .map(|e| e.id.clone())
        });
        let runner = Arc::new(HostRun {
            mcp: self.clone(),
            owner,
            req: ExecRequest {
                command: p.command,
                stdin: p.stdin.map(String::into_bytes),
                cwd,
                env,
                timeout,
                scrub: Vec::new(),
            },
            sudo: p.sudo.unwrap_or(false),
            limit,
            cancel: CancellationToken::new(),
            confirmable: confirm::how_to_ask(ctx) != Asking::No
                && self.manager.settings().host_key_policy
                    != crate::config::host_key_policy::HostKeyPolicy::Strict,
        });
        let outcomes = self
            .run_all(
                runner,
                &targets,
                concurrency,
                p.fail_fast.unwrap_or(false),
                ctx,
            )
            .await;
        Ok(groups::fold(
            outcomes,
            millis(started.elapsed()),
            RESULT_LIMIT,
        ))
    }

    /// Runs every target, at most `concurrency` at once, in target order; reports progress
    /// and records one audit line per host as each ends.
    async fn run_all(
        &self,
        runner: Arc<HostRun>,
        targets: &[Target],
        concurrency: usize,
        fail_fast: bool,
        ctx: &RequestContext<RoleServer>,
    ) -> Vec<(String, Outcome)> {
        // Dropping this call (or cancelling it) stops every running command; the tasks
        // finish their stop sequences on their own.
        let _stop_all = runner.cancel.clone().drop_guard();
        // No more hosts start once this is cancelled (a fail_fast stop, or the cancel).
        let stop_starting = runner.cancel.child_token();
        let slots = Arc::new(Semaphore::new(concurrency));
        let (tx, mut rx) = mpsc::channel::<(usize, HostReport)>(targets.len().max(1));
        for (i, target) in targets.iter().cloned().enumerate() {
            let (runner, slots, stop, tx) = (
                runner.clone(),
                slots.clone(),
                stop_starting.clone(),
                tx.clone(),
            );
            tokio::spawn(async move {
                let slot = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    s = slots.acquire_owned() => s.ok(),
                };
                let report = match slot {
                    Some(_slot) if !stop.is_cancelled() => runner.run(&target).await,
                    _ => HostReport {
                        outcome: Outcome::Skipped,
                        event: None,
                    },
                };
                let _ = tx.send((i, report)).await;
            });
        }
        drop(tx);
        let total = targets.len();
        let mut outcomes: Vec<(String, Outcome)> = targets
            .iter()
            .map(|t| (t.label().to_string(), Outcome::Skipped))
            .collect();
        let mut reporter = Reporter::for_request(ctx);
        let (mut done, mut failed) = (0usize, 0usize);
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = ctx.ct.cancelled(), if deadline.is_none() => {
                    runner.cancel.cancel();
                    deadline = Some(tokio::time::Instant::now() + run::CANCEL_WAIT);
                    continue;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => break,
            };
            let Some((i, report)) = next else { break };
            done += 1;
            if report.outcome.is_failure() {
                failed += 1;
                if fail_fast {
                    stop_starting.cancel();
                }
            }
            if let Some(event) = report.event {
                self.audit(ctx, event);
            }
            if let Some(r) = &mut reporter {
                r.send(
                    done as f64,
                    Some(total as f64),
                    format!("{done}/{total} done, {failed} failed"),
                );
            }
            if let Some(slot) = outcomes.get_mut(i) {
                slot.1 = report.outcome;
            }
        }
        // No progress may follow the result.
        if let Some(r) = reporter {
            r.finish().await;
        }
        outcomes
    }
}
