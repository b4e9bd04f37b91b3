//! The command line sent to the remote shell: the `cd` and the exports a command gets,
//! quoting, and what is refused before anything is sent.

use crate::error::{Error, Result};

/// The largest command line sent, with the `cd` and exports it may get. Every server must
/// take packets of 35000 bytes (RFC 4253 §6.1); beyond, some end the whole connection
/// (Dropbear above 32 KiB, OpenSSH above 256 KiB) instead of refusing the command.
pub const MAX_COMMAND_BYTES: usize = 32 * 1024;

/// Refuses what cannot run as asked: invalid environment variable names, and what a
/// server would answer by dropping the connection: NUL bytes, which SSH request strings
/// cannot carry, and command lines beyond [`MAX_COMMAND_BYTES`].
pub fn check_request(command: &str, cwd: Option<&str>, env: &[(String, String)]) -> Result<()> {
    let no_nul = |what: &str, s: &str| {
        if s.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "{what} contains a NUL byte, which an SSH request cannot carry; pass binary data on stdin"
            )));
        }
        Ok(())
    };
    if let Some((bad, _)) = env.iter().find(|(k, _)| !valid_env_name(k)) {
        return Err(Error::InvalidArgument(format!(
            "environment variable name {bad:?} is not valid (letters, digits and _, not starting with a digit)"
        )));
    }
    no_nul("command", command)?;
    no_nul("cwd", cwd.unwrap_or_default())?;
    for (k, v) in env {
        no_nul(&format!("env {k}"), v)?;
    }
    let size = compose(command, cwd, env).len();
    if size > MAX_COMMAND_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the command is {size} bytes with its cwd and env, over the {MAX_COMMAND_BYTES} an SSH \
             server must accept in one request (larger ones can end the connection): pass a long \
             script on stdin instead (command `sh -s` or `bash -s`, stdin: the script), or upload \
             it with ssh_upload and run the file"
        )));
    }
    Ok(())
}

/// The command line sent to the shell: exports for refused env vars, the `cd`, then the
/// command on its own line so that its syntax cannot interact with ours.
pub fn compose(command: &str, cwd: Option<&str>, exports: &[(String, String)]) -> String {
    let mut prefix = String::new();
    for (k, v) in exports {
        prefix.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    if let Some(dir) = cwd {
        let dir = if dir.starts_with('-') {
            format!("./{dir}")
        } else {
            dir.to_string()
        };
        prefix.push_str(&format!("cd {} || exit 1\n", shell_quote(&dir)));
    }
    if prefix.is_empty() {
        command.to_string()
    } else {
        prefix + command
    }
}

/// The variable that marks a command of a session whose server refuses signals (see
/// [`crate::ssh::ident::refuses_signals`]). It is exported first thing as `<id>.$$`: the id is
/// random, and `$$` is the shell's pid, which sshd made a process group leader, so the
/// command line of the shell and the environment of everything it starts name the group.
pub const MARKER_VAR: &str = "SSH_MCP_RUN";

/// The export line that marks a command with `id` (hex).
pub fn marker_export(id: &str) -> String {
    format!("export {MARKER_VAR}={id}.$$")
}

/// A command that sends `signals` to the process group of the command marked with `id`, as
/// OpenSSH's own delivery (`killpg`) would: the group of the shell whose command line holds
/// the id, and the groups named by the marker in the environment of processes it started
/// (the shell may have exec'd the last command). Run by `sh` whatever the login shell;
/// finds processes through /proc, so on servers without it, it does nothing.
pub fn signal_marked(id: &str, signals: &[&str]) -> String {
    // The brackets keep grep, which reads its own command line, and this script from matching.
    let (head, tail) = id.split_at(id.len().min(1));
    let kills: String = signals
        .iter()
        .map(|sig| format!("kill -s {sig} -- \"-$g\" 2>/dev/null; "))
        .collect();
    let script = format!(
        "for g in $( (grep -l -e '[{head}]{tail}' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3; \
         grep -aho -e '[{h}]{rest}=[{head}]{tail}\\.[0-9]*' /proc/[0-9]*/environ 2>/dev/null | sed 's/.*\\.//') \
         | sort -u); do [ \"$g\" -gt 1 ] 2>/dev/null || continue; {kills}done; true",
        h = &MARKER_VAR[..1],
        rest = &MARKER_VAR[1..],
    );
    format!("sh -c {}", shell_quote(&script))
}

/// Single-quotes a string for POSIX shells (and bash, zsh, fish, csh): `'` becomes `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `name` is a valid environment variable name.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_should_survive_single_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn compose_should_put_the_command_on_its_own_line() {
        assert_eq!(compose("ls", None, &[]), "ls");
        assert_eq!(
            compose("ls", Some("/tmp/x y"), &[("A".into(), "1'2".into())]),
            "export A='1'\\''2'\ncd '/tmp/x y' || exit 1\nls"
        );
        assert_eq!(compose("ls", Some("-x"), &[]), "cd './-x' || exit 1\nls");
    }

    #[test]
    fn the_signal_command_should_not_match_itself() {
        let cmd = signal_marked("0123abcd", &["HUP", "INT"]);
        // Every mention of the id or the marker is broken by a bracket.
        assert!(
            !cmd.contains("0123abcd") && !cmd.contains("SSH_MCP_RUN"),
            "{cmd}"
        );
        assert!(cmd.starts_with("sh -c '"), "{cmd}");
        assert!(cmd.contains("grep -l -e '\\''[0]123abcd'\\''"), "{cmd}");
        assert!(cmd.contains("kill -s HUP -- \"-$g\"") && cmd.contains("kill -s INT"));
        assert_eq!(marker_export("ab"), "export SSH_MCP_RUN=ab.$$");
    }

    #[test]
    fn env_names_should_be_validated() {
        assert!(valid_env_name("FOO_1") && valid_env_name("_x"));
        assert!(!valid_env_name("1A") && !valid_env_name("A-B") && !valid_env_name(""));
        assert!(!valid_env_name("A;rm"));
    }

    #[test]
    fn requests_a_server_would_drop_should_be_refused() {
        let env = vec![("A".to_string(), "1".to_string())];
        assert!(check_request("ls", Some("/tmp"), &env).is_ok());
        assert!(check_request("echo a\0b", None, &[]).is_err());
        assert!(check_request("ls", Some("/t\0mp"), &[]).is_err());
        assert!(check_request("ls", None, &[("A".into(), "x\0".into())]).is_err());
        assert!(check_request("ls", None, &[("1A".into(), "x".into())]).is_err());
        let big = "x".repeat(MAX_COMMAND_BYTES);
        assert!(check_request(&big, None, &[]).is_ok());
        assert!(check_request(&big, Some("/"), &[]).is_err());
    }
}
