//! `ssh_shell_open`, `ssh_shell_send`, `ssh_shell_read`, `ssh_shell_close`: interactive
//! shells on a PTY (see [`crate::ssh::pty`]), waits that end on a pattern or on silence,
//! and secrets the server types itself.
//!
//! The command policy checks `command` and each line typed through `text` and submitted
//! with Enter. It is best effort: what a line means depends on the program reading it,
//! which the server cannot know, so under `read_only` shells are refused altogether.

use rmcp::handler::server::tool::{InputResponses, IntoCallToolResult, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, InputRequiredResult};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::structured::Json;

use crate::audit::{Decision, Event};
use crate::config::policy::Policy;
use crate::error::{Error, Result};
use crate::manager::shells::Shell;
use crate::mcp::ask_sudo::SudoSecret;
use crate::mcp::errors::tool_error;
use crate::mcp::shell_types::*;
use crate::mcp::shell_wait::{Wait, result, view_of};
use crate::mcp::{SshMcp, schema};
use crate::ssh::command_line::check_request;
use crate::ssh::keys::key_bytes;
use crate::ssh::pty::PtyRequest;
use crate::ssh::terminal::{MAX_CELLS, MAX_SIZE};

#[tool_router(router = shell_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_shell_open",
        input_schema = schema::input::<ShellOpenParams>(),
        output_schema = schema::output::<ShellResult>(),
        description = "Open an interactive shell on a PTY (or run command on one): for prompts, REPLs, full-screen programs. Returns shell_id and what ssh_shell_read returns.",
        annotations(title = "Open an interactive shell", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    pub async fn ssh_shell_open(
        &self,
        Parameters(p): Parameters<ShellOpenParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ShellResult>, String> {
        let mut event = Event {
            tool: "ssh_shell_open",
            session_id: Some(p.session_id.trim().to_string()),
            command: p.command.clone(),
            ..Default::default()
        };
        let outcome = self.open_shell(p, &ctx, &mut event).await;
        self.finish("Failed to open shell", &ctx, event, outcome)
    }

    #[tool(
        name = "ssh_shell_send",
        input_schema = schema::input::<ShellSendParams>(),
        output_schema = schema::output::<ShellResult>(),
        description = "Type into a shell (resize, then text, keys, secret), then wait and return as ssh_shell_read.",
        annotations(title = "Type into a shell", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    pub async fn ssh_shell_send(
        &self,
        Parameters(p): Parameters<ShellSendParams>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        let mut event = Event {
            tool: "ssh_shell_send",
            shell_id: Some(p.shell_id.trim().to_string()),
            command: p.text.clone(),
            target: p.keys.as_ref().map(|k| k.join(" ")),
            secret: p.secret.as_ref().map(|_| "sudo"),
            ..Default::default()
        };
        let answer = (state.as_deref(), responses.as_ref());
        let outcome = match self.send_shell(p, answer, &ctx, &mut event).await {
            // The sudo password is asked first (protocol 2026-07-28): nothing was typed.
            Ok(Err(question)) => return Ok(question.into()),
            Ok(Ok(r)) => Ok(r),
            Err(e) => Err(e),
        };
        self.finish("Failed to type into shell", &ctx, event, outcome)?
            .into_call_tool_result()
            .map_err(|e| format!("Failed to type into shell: {}", e.message))
    }

    #[tool(
        name = "ssh_shell_read",
        input_schema = schema::input::<ShellReadParams>(),
        output_schema = schema::output::<ShellResult>(),
        description = "Wait until wait_for matches (else idle_ms of quiet), the shell exits or timeout_ms passes; return the text since the last read (default; the screen while a full-screen program runs), the screen, or scrollback.",
        annotations(title = "Read a shell", read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn ssh_shell_read(
        &self,
        Parameters(p): Parameters<ShellReadParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ShellResult>, String> {
        let mut event = Event {
            tool: "ssh_shell_read",
            shell_id: Some(p.shell_id.trim().to_string()),
            ..Default::default()
        };
        let outcome = async {
            let shell = self
                .manager
                .shell(&p.shell_id, Self::owner(&ctx).as_deref())?;
            event.session_id = Some(shell.session_id.clone());
            let wait = Wait::from_params(&p.wait)?;
            view_of(&p.wait)?;
            let waited = wait.run(&shell.pty, &ctx.ct).await?;
            result(&shell, &p.wait, waited)
        }
        .await;
        self.finish("Failed to read shell", &ctx, event, outcome)
    }

    #[tool(
        name = "ssh_shell_close",
        input_schema = schema::input::<ShellCloseParams>(),
        output_schema = schema::output::<ShellCloseResult>(),
        description = "End a shell and what it started (HUP, TERM, then KILL).",
        annotations(title = "Close a shell", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn ssh_shell_close(
        &self,
        Parameters(p): Parameters<ShellCloseParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<ShellCloseResult>, String> {
        let owner = Self::owner(&ctx);
        let mut event = Event {
            tool: "ssh_shell_close",
            shell_id: Some(p.shell_id.trim().to_string()),
            ..Default::default()
        };
        let outcome = async {
            let shell = self.manager.shell(&p.shell_id, owner.as_deref())?;
            event.session_id = Some(shell.session_id.clone());
            let exit = self
                .manager
                .shells
                .close(&shell.id, owner.as_deref())
                .await?;
            let exit = exit.unwrap_or_default();
            Ok(ShellCloseResult {
                shell_id: shell.id.clone(),
                exit_code: exit.exit_code.map(i64::from),
                exit_signal: exit.exit_signal,
            })
        }
        .await;
        if let Ok(r) = &outcome {
            event.exit_code = r.exit_code;
            event.exit_signal = r.exit_signal.clone();
        }
        self.finish("Failed to close shell", &ctx, event, outcome)
    }
}

impl SshMcp {
    async fn open_shell(
        &self,
        p: ShellOpenParams,
        ctx: &RequestContext<RoleServer>,
        event: &mut Event,
    ) -> Result<ShellResult> {
        let settings = self.manager.settings();
        if settings.policy.read_only() {
            return Err(Error::Policy(
                "the read_only command policy does not allow interactive shells; use ssh_execute"
                    .into(),
            ));
        }
        let env: Vec<(String, String)> = p.env.unwrap_or_default().into_iter().collect();
        let cwd = p.cwd.filter(|c| !c.is_empty());
        let command = p.command.filter(|c| !c.trim().is_empty());
        check_request(command.as_deref().unwrap_or_default(), cwd.as_deref(), &env)?;
        if let Some(c) = &command {
            settings.policy.check_command(c)?;
        }
        settings.policy.check_context(cwd.as_deref(), &env)?;
        let term = p.term.unwrap_or_else(|| "xterm-256color".into());
        if term.is_empty() || term.len() > 64 || !term.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidArgument(
                "term must be a terminal type name such as xterm-256color".into(),
            ));
        }
        let (rows, cols) = size(p.rows.unwrap_or(40), p.cols.unwrap_or(120))?;
        let req = PtyRequest {
            command,
            rows,
            cols,
            term,
            cwd,
            env,
        };
        let used = self
            .manager
            .open_shell(&p.session_id, Self::owner(ctx).as_deref(), req)
            .await?;
        event.host = Some(used.session.info.address.to_string());
        event.user = Some(used.session.info.username.clone());
        let shell = used.value;
        event.shell_id = Some(shell.id.clone());
        let params = WaitParams::default();
        let waited = Wait::from_params(&params)?.run(&shell.pty, &ctx.ct).await?;
        result(&shell, &params, waited)
    }

    /// `ssh_shell_send`; `Ok(Err(question))` asks the user for the sudo password first.
    async fn send_shell(
        &self,
        p: ShellSendParams,
        answer: (Option<&str>, Option<&rmcp::model::InputResponses>),
        ctx: &RequestContext<RoleServer>,
        event: &mut Event,
    ) -> Result<std::result::Result<ShellResult, InputRequiredResult>> {
        let owner = Self::owner(ctx);
        let shell = self.manager.shell(&p.shell_id, owner.as_deref())?;
        event.session_id = Some(shell.session_id.clone());
        let wait = Wait::from_params(&p.wait)?;
        view_of(&p.wait)?;
        let resize = match (p.rows, p.cols) {
            (None, None) => None,
            (r, c) => {
                let (now_rows, now_cols) = shell.pty.terminal().size();
                Some(size(
                    r.unwrap_or(now_rows.into()),
                    c.unwrap_or(now_cols.into()),
                )?)
            }
        };
        let app_cursor = shell.pty.terminal().app_cursor();
        let keys = p.keys.unwrap_or_default();
        let mut typed: Vec<u8> = p.text.clone().unwrap_or_default().into_bytes();
        for k in &keys {
            typed.extend(key_bytes(k, app_cursor)?);
        }
        let secret = match p.secret.as_deref().map(str::trim) {
            Some("sudo") => {
                let entry = self.manager.get(&shell.session_id, owner.as_deref())?;
                match self.sudo_secret(ctx, &entry, answer.0, answer.1).await? {
                    SudoSecret::Known(secret) => Some(secret),
                    SudoSecret::AskFirst(question) => return Ok(Err(question)),
                }
            }
            Some(_) => {
                return Err(Error::InvalidArgument(
                    "unknown secret; the one stored secret is \"sudo\"".into(),
                ));
            }
            None => None,
        };
        check_typed(
            &self.manager.settings().policy,
            &shell,
            p.text.as_deref(),
            &keys,
            secret.is_some(),
        )?;
        if let Some((rows, cols)) = resize {
            shell.pty.resize(rows, cols).await;
        }
        shell.pty.type_bytes(typed, wait.timeout).await?;
        if let Some(secret) = secret {
            shell.pty.terminal().add_secret(&secret);
            let mut bytes = secret.expose().as_bytes().to_vec();
            bytes.push(b'\r');
            let sent = shell.pty.type_bytes(bytes.clone(), wait.timeout).await;
            zeroize::Zeroize::zeroize(&mut bytes);
            sent?;
        }
        let waited = wait.run(&shell.pty, &ctx.ct).await?;
        result(&shell, &p.wait, waited).map(Ok)
    }

    /// Records the call's audit line and maps its outcome to the tool's answer.
    fn finish<T>(
        &self,
        op: &str,
        ctx: &RequestContext<RoleServer>,
        mut event: Event,
        outcome: Result<T>,
    ) -> Result<Json<T>, String> {
        event.decision = Decision::of(&outcome);
        event.error = outcome.as_ref().err().map(|e| e.to_string());
        self.audit(ctx, event);
        outcome.map(Json).map_err(|e| tool_error(op, &e))
    }
}

/// A terminal size within bounds (each side, and cells, which take memory).
fn size(rows: u32, cols: u32) -> Result<(u16, u16)> {
    let ok = |n: u32| (1..=u32::from(MAX_SIZE)).contains(&n);
    match (u16::try_from(rows), u16::try_from(cols)) {
        (Ok(r), Ok(c)) if ok(rows) && ok(cols) && rows * cols <= MAX_CELLS => Ok((r, c)),
        _ => Err(Error::InvalidArgument(format!(
            "rows and cols must each be 1 to {MAX_SIZE}, rows × cols at most {MAX_CELLS}"
        ))),
    }
}

/// Applies the command policy to each line `text` and `keys` submit (best effort: the
/// line as typed, with backspace and ctrl+c/ctrl+u applied; Enter, ctrl+j, ctrl+m, ctrl+o
/// and the Enter after a secret submit it). Nothing is typed when a line is refused.
fn check_typed(
    policy: &Policy,
    shell: &Shell,
    text: Option<&str>,
    keys: &[String],
    secret: bool,
) -> Result<()> {
    let mut line = shell
        .typed_line
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let submit = |line: &mut String| -> Result<()> {
        if !line.trim().is_empty() {
            policy.check_command(line)?;
        }
        line.clear();
        Ok(())
    };
    for c in text.unwrap_or_default().chars() {
        match c {
            '\r' | '\n' | '\u{f}' => submit(&mut line)?,
            '\u{7f}' | '\u{8}' => {
                line.pop();
            }
            '\u{3}' | '\u{15}' => line.clear(),
            c => line.push(c),
        }
    }
    for k in keys {
        match k.trim().to_ascii_lowercase().as_str() {
            "enter" | "ctrl+m" | "ctrl+j" | "ctrl+o" => submit(&mut line)?,
            "backspace" => {
                line.pop();
            }
            "ctrl+c" | "ctrl+u" => line.clear(),
            _ => {}
        }
    }
    if secret {
        submit(&mut line)?;
    }
    if let Ok(mut l) = shell.typed_line.lock() {
        *l = line;
    }
    Ok(())
}
