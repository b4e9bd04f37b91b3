//! Starting a shell's program: the terminal request, then `shell` or `exec`, each waited on
//! for the server's answer, with what arrives before that answer kept in order.

use std::time::Duration;

use russh::ChannelMsg;

use super::PtyRequest;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::ssh::command_line::{compose, marker_export};
use crate::ssh::session::Session;

/// How long the server has to answer a request on a new channel.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// Output a server may send before it answers (kept to be shown after): beyond this it is
/// not a shell starting but a broken or hostile server.
const EARLY_LIMIT: usize = 64 * 1024;

/// Waits for the server's answer to a request on a new channel (`pty-req`, then `shell` or
/// `exec`): a failure is `refused`. What arrives before the answer (a program's first output,
/// even its exit, from a server that answers late or never) is returned to be handled in
/// order.
async fn answer(
    channel: &mut russh::Channel<russh::client::Msg>,
    session: &Session,
    refused: Error,
) -> Result<Vec<ChannelMsg>> {
    let mut early = Vec::new();
    // Every message counts, empty ones too: a server must not fill memory with them.
    let mut early_bytes = 0usize;
    let answer = async {
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Success) => return Ok(()),
                Some(ChannelMsg::Failure) => return Err(refused),
                Some(ChannelMsg::WindowAdjusted { .. }) => {}
                Some(msg) => {
                    let size = match &msg {
                        ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                            data.len()
                        }
                        _ => 0,
                    };
                    early_bytes = early_bytes.saturating_add(size + 64);
                    if early_bytes > EARLY_LIMIT {
                        return Err(Error::ShellStart(format!(
                            "the server sent over {} KiB before confirming the shell",
                            EARLY_LIMIT / 1024
                        )));
                    }
                    early.push(msg);
                }
                // The program ran (it wrote or ended) and the channel is gone: that is its
                // whole life, shown as such.
                None if early.iter().any(ran) => return Ok(()),
                None if session.is_closed() => return Err(session.closed_error()),
                // Closed on a live connection before anything ran: the server dropped it
                // (a retry may work).
                None => return Err(Error::DroppedBeforeStart),
            }
        }
    };
    tokio::time::timeout(ANSWER_WAIT, answer)
        .await
        .map_err(|_| {
            session.or_closed(Error::ShellStart(format!(
                "the server did not confirm the shell within {} s",
                ANSWER_WAIT.as_secs()
            )))
        })??;
    Ok(early)
}

/// Whether `msg` shows that the program on a channel ran.
fn ran(msg: &ChannelMsg) -> bool {
    matches!(
        msg,
        ChannelMsg::Data { .. }
            | ChannelMsg::ExtendedData { .. }
            | ChannelMsg::ExitStatus { .. }
            | ChannelMsg::ExitSignal { .. }
            | ChannelMsg::Eof
    )
}

/// Asks for the terminal and starts the program on it; returns what arrived before the
/// answers, and the stop marker the program carries (on servers that refuse signals).
pub(super) async fn start(
    channel: &mut russh::Channel<russh::client::Msg>,
    session: &Session,
    req: &PtyRequest,
) -> Result<(Vec<ChannelMsg>, Option<String>)> {
    // Exported by the shell that starts the login shell: no `AcceptEnv` needed.
    let exports = &req.env;
    channel
        .request_pty(true, &req.term, req.cols.into(), req.rows.into(), 0, 0, &[])
        .await?;
    answer(channel, session, Error::TerminalRefused).await?;
    let marker = if session.marks_commands() {
        Some(random_id(8)?)
    } else {
        None
    };
    let command = match (&req.command, &marker, &req.cwd) {
        (None, None, None) if exports.is_empty() => None,
        (command, marker, cwd) => {
            let run = command
                .clone()
                .unwrap_or_else(|| "exec \"${SHELL:-/bin/sh}\" -l".into());
            let mut line = compose(&run, cwd.as_deref(), exports);
            if let Some(m) = marker {
                line = format!("{}\n{line}", marker_export(m));
            }
            Some(line)
        }
    };
    match command {
        Some(c) => channel.exec(true, c.into_bytes()).await?,
        None => channel.request_shell(true).await?,
    }
    let early = answer(channel, session, Error::ExecRefused).await?;
    Ok((early, marker))
}
