//! Running a command under `sudo` with the password on stdin, without matching prompts.
//!
//! The password goes in twice, one line each, ahead of the command's own stdin. The
//! wrapper reads the first line itself and checks it with `sudo -S -p '' -v` (empty
//! prompt, errors silenced), so a wrong password or an account that may not use sudo is
//! known before the command runs and reported on stderr behind a random marker; the
//! command then runs under `sudo -S -k`, which reads the second line. An account that
//! needs no password (`sudo -n true` succeeds) skips the check and runs under `sudo -n`.
//! Nothing depends on the prompt's wording, which sudo-rs and translations change; the
//! password is never on a command line.
//!
//! sudo-rs (0.2.15, run by the integration tests beside sudo 1.9) takes the same options
//! with the same exit codes, and with `-S` it too reads the password up to the line break
//! only, leaving the rest of stdin to the command. Only its words differ, which the wrapper
//! never reads: it asks `[sudo: authenticate] Password: ` and says `Authentication failed,
//! try again.` and `interactive authentication is required` where sudo asks `[sudo] password
//! for <user>: ` and says `Sorry, try again.` and `a password is required`.

use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::secret::Secret;
use crate::ssh::command_line::{compose, shell_quote};
use crate::ssh::exec::ExecRequest;
use crate::ssh::scrub::Scrubber;

/// A command wrapped to run under sudo.
pub struct SudoCommand {
    /// The command line to run instead.
    pub command: String,
    /// Its stdin: the password twice, then the command's own.
    pub stdin: Vec<u8>,
    /// The wrapper's own report lines on stderr, `missing` and `refused`, each as written
    /// and as it reads once the password is removed from the output (a password may occur
    /// in the line, which it cannot span: it holds no line break).
    missing: [String; 2],
    refused: [String; 2],
}

/// Wraps `command` (with `env` exported inside sudo, where it would otherwise be reset).
pub fn wrap(
    command: &str,
    env: &[(String, String)],
    password: &Secret,
    stdin: Option<&[u8]>,
) -> Result<SudoCommand> {
    if password.expose().contains('\n') {
        return Err(Error::InvalidArgument(
            "the sudo password holds a line break, which sudo -S cannot read".into(),
        ));
    }
    let marker = format!("ssh-mcp-sudo-{}", random_id(8)?);
    let inner = shell_quote(&compose(command, None, env));
    let script = format!(
        "IFS= read -r p || p=\n\
         command -v sudo >/dev/null 2>&1 || {{ echo '{marker}:missing' >&2; exit 127; }}\n\
         if sudo -n true 2>/dev/null; then IFS= read -r p; unset p; exec sudo -n -- sh -c {inner}; fi\n\
         sudo -k 2>/dev/null\n\
         printf '%s\\n' \"$p\" | sudo -S -p '' -v 2>/dev/null || {{ echo '{marker}:refused' >&2; exit 1; }}\n\
         unset p\n\
         exec sudo -S -k -p '' -- sh -c {inner}"
    );
    // The script is POSIX sh, whatever the account's login shell (fish reads `IFS= read`
    // and `if …; then` as errors); sh's `printf` is a builtin, so the password is on no
    // command line.
    let script = format!("exec sh -c {}", shell_quote(&script));
    let mut input = Vec::new();
    for _ in 0..2 {
        input.extend_from_slice(password.expose().as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(stdin.unwrap_or_default());
    let report = |what: &str| {
        let line = format!("{marker}:{what}");
        let mut scrubber = Scrubber::default();
        scrubber.add(password);
        let mut seen = scrubber.push(line.as_bytes());
        seen.extend(scrubber.finish());
        [line, String::from_utf8_lossy(&seen).into_owned()]
    };
    Ok(SudoCommand {
        command: script,
        stdin: input,
        missing: report("missing"),
        refused: report("refused"),
    })
}

/// Wraps `req` in place with [`wrap`]: its `env` goes inside sudo, its stdin after the
/// password.
pub fn wrap_request(req: &mut ExecRequest, password: &Secret) -> Result<SudoCommand> {
    let wrapped = wrap(&req.command, &req.env, password, req.stdin.as_deref())?;
    req.command = wrapped.command.clone();
    req.stdin = Some(wrapped.stdin.clone());
    req.env = Vec::new();
    // A command may print what it reads (`cat` with no stdin of its own), and sudo
    // lectures or errors may quote input: the password never reaches the output.
    req.scrub.push(password.clone());
    Ok(wrapped)
}

impl SudoCommand {
    /// The error the wrapper reported on `stderr`, if any.
    pub fn failure(&self, stderr: &str) -> Option<Error> {
        stderr.lines().find_map(|l| {
            if self.missing.iter().any(|m| m == l) {
                Some(Error::Sudo(
                    "sudo is not installed on the remote host".into(),
                ))
            } else if self.refused.iter().any(|r| r == l) {
                Some(Error::Sudo(
                    "sudo refused the password: it is wrong, or the account may not use sudo"
                        .into(),
                ))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_should_be_on_stdin_only() {
        let pw = Secret::new("pa$$ 'word");
        let w = wrap("id -u", &[("A".into(), "1".into())], &pw, Some(b"in")).unwrap();
        assert!(!w.command.contains("pa$$"));
        assert_eq!(w.stdin, b"pa$$ 'word\npa$$ 'word\nin");
        assert!(
            w.command.starts_with("exec sh -c 'IFS= read -r p"),
            "{}",
            w.command
        );
        let err = format!("{}\n", w.refused[0]);
        assert!(matches!(w.failure(&err), Some(Error::Sudo(_))));
        assert!(w.failure("Sorry, try again.\n").is_none());
        let req = crate::ssh::exec::ExecRequest {
            command: w.command.clone(),
            stdin: Some(w.stdin.clone()),
            ..Default::default()
        };
        let debug = format!("{req:?}");
        assert!(
            !debug.contains("112, 97, 36") && !debug.contains("pa$$"),
            "{debug}"
        );
    }

    /// A password that occurs in the wrapper's report line is removed from it in the
    /// output; the report is still recognised.
    #[test]
    fn a_report_should_be_recognised_with_the_password_removed() {
        for pw in ["sudo", "-", "refused", "ssh-mcp", "d"] {
            let w = wrap("true", &[], &Secret::new(pw), None).unwrap();
            let mut scrubber = Scrubber::default();
            scrubber.add(&Secret::new(pw));
            let raw = format!("noise\n{}\nmore\n", w.refused[0]);
            let mut seen = scrubber.push(raw.as_bytes());
            seen.extend(scrubber.finish());
            let seen = String::from_utf8(seen).unwrap();
            assert!(!seen.contains(&w.refused[0]), "{pw}: {seen}");
            let e = w.failure(&seen).map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("refused the password"), "{pw}: {seen}");
            let raw = format!("{}\n", w.missing[0]);
            let mut seen = scrubber.push(raw.as_bytes());
            seen.extend(scrubber.finish());
            let e = w
                .failure(&String::from_utf8(seen).unwrap())
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("not installed"), "{pw}");
        }
    }
}
