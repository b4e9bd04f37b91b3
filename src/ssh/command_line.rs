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
/// command on its own line so that its syntax cannot interact with ours. Every line before
/// the command reads the same in POSIX shells (sh, dash, bash, zsh) and in fish 3, whose
/// `export` is a function taking `NAME=VALUE` and which has `||`.
pub fn compose(command: &str, cwd: Option<&str>, exports: &[(String, String)]) -> String {
    let mut prefix = String::new();
    for (k, v) in exports {
        prefix.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    if let Some(dir) = cwd.filter(|d| !d.is_empty()) {
        // `cd -x` would be an option, and `cd -` the previous directory.
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
/// [`crate::ssh::ident::refuses_signals`]). It is exported first thing as `<id>` (random,
/// hex): the command line of the shell holds the id, and so does the environment of a
/// command the shell replaced itself with (`exec`, or a shell running its last command in
/// its own process).
pub const MARKER_VAR: &str = "SSH_MCP_RUN";

/// The export line that marks a command with `id` (hex). Plain `NAME=VALUE`, which fish
/// reads as POSIX shells do (`$$`, the shell's pid, is a syntax error in fish).
pub fn marker_export(id: &str) -> String {
    format!("export {MARKER_VAR}={id}")
}

/// The part of the signalling script that reads what it trusts from /proc: `info PID` sets
/// `n` (the name), `pp` (the parent pid), `u` (the real, effective, saved and file uids) and
/// `g` (the process group) from the kernel's own lines, and fails when the process is gone.
/// `status` escapes newlines in the name, so it is read line by line; the group comes from
/// its `NSpgid` line (Linux 4.1 and later), or else from `stat` after its last `)`, since the
/// name before it may hold spaces and parentheses.
const PROC_INFO: &str = r#"info() {
  n= pp= u= g=
  [ -r "/proc/$1/status" ] || return 1
  while read -r k v1 v2 v3 v4 rest; do
    case $k in
      Name:) n=$v1 ;;
      PPid:) pp=$v1 ;;
      Uid:) u="$v1 $v2 $v3 $v4" ;;
      NSpgid:) g=$v1 ;;
    esac
  done < "/proc/$1/status"
  if [ -z "$g" ]; then st=$(cat "/proc/$1/stat") || return 1; st=${st##*)}; set -f; set -- $st; set +f; g=$3; fi
  [ -n "$pp" ] && [ -n "$g" ]
}
"#;

/// How far up from itself the script looks for the sshd process of its connection.
const ANCESTRY_LIMIT: u32 = 16;

/// A command that sends `signals` to the process group of the command marked with `id`, as
/// OpenSSH's own delivery (`killpg` of the session's child) would. Run by `sh` whatever the
/// login shell, on the same connection as the marked command; finds processes through
/// /proc, so on servers without it, it does nothing.
///
/// Other users can read the id in the shell's command line and copy it anywhere, so the
/// marks alone are not trusted. The script first finds the sshd process of its own
/// connection (its nearest ancestor named `sshd…` whose uids are all 0), then signals only
/// the group led by a child of that process whose uids are all 0 and whose command line
/// (the shell) or environment (what the shell `exec`ed) holds the id: the group sshd made
/// for the command. A group of another user or another connection is never signalled, and
/// once the command's own process is gone, nothing is (nor would OpenSSH signal anything).
pub fn signal_marked(id: &str, signals: &[&str]) -> String {
    // The brackets keep grep, which reads its own command line, and this script from matching.
    let (head, tail) = id.split_at(id.len().min(1));
    let kills: Vec<String> = signals
        .iter()
        .map(|sig| format!("kill -s {sig} -- \"-$t\" 2>/dev/null"))
        .collect();
    let kills = kills.join("; ");
    let script = format!(
        "{PROC_INFO}s= p=$$ i=0\n\
         while [ \"$i\" -lt {ANCESTRY_LIMIT} ] && info \"$p\" 2>/dev/null; do\n  \
           case \"$u:$n\" in \"0 0 0 0:sshd\"*) s=$p; break ;; esac\n  \
           p=$pp i=$((i + 1))\n\
         done\n\
         [ -n \"$s\" ] || exit 0\n\
         for t in $( (grep -la -e '[{head}]{tail}' /proc/[0-9]*/cmdline; \
         grep -la -e '[{h}]{rest}=[{head}]{tail}' /proc/[0-9]*/environ) 2>/dev/null | cut -d/ -f3 | sort -u); do\n  \
           info \"$t\" 2>/dev/null && [ \"$pp\" = \"$s\" ] && [ \"$u\" = \"0 0 0 0\" ] && [ \"$g\" = \"$t\" ] || continue\n  \
           {kills}\n\
         done\n\
         true",
        h = &MARKER_VAR[..1],
        rest = &MARKER_VAR[1..],
    );
    format!("sh -c {}", shell_quote(&script))
}

/// Quotes a string so that every shell a login may have reads it back unchanged: sh, dash,
/// bash, zsh and fish. Runs without `'` and `\` are single-quoted (literal in all of them,
/// newlines, `$`, `!` and `~` included), and each `'` and `\` is written outside the quotes
/// as `\'` and `\\`. The usual `'\''` is not enough: inside single quotes fish reads `\'`
/// and `\\` as escapes, so a `\` before a `'` would end the quoted string there.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    let mut quoted = false;
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            if quoted {
                out.push('\'');
                quoted = false;
            }
            out.push('\\');
        } else if !quoted {
            out.push('\'');
            quoted = true;
        }
        out.push(c);
    }
    if quoted {
        out.push('\'');
    }
    out
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
    fn shell_quote_should_keep_quotes_and_backslashes_outside_single_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("'"), r"\'");
        assert_eq!(shell_quote(r"\"), r"\\");
        assert_eq!(shell_quote(r"a\'b"), r"'a'\\\''b'");
        assert_eq!(shell_quote(r"x\\"), r"'x'\\\\");
        assert_eq!(shell_quote("$(x)\n`y`!~"), "'$(x)\n`y`!~'");
    }

    /// Hostile values, with `M` standing for a file that must never be created.
    #[cfg(unix)]
    const HOSTILE: &[&str] = &[
        r"x\'; touch M; echo \'y",
        r"x'; touch M; echo 'y",
        r"x\\'; touch M; #",
        r"x\\\'; touch M; #",
        "$(touch M)",
        "`touch M`",
        "(touch M)",
        "{$(touch M)}",
        "x'\ntouch M\necho 'y",
        "x\\\ntouch M",
        "x\\",
        r"\'",
        "''",
        r#"'"'"'; touch M"#,
        "$HOME ~ ! !! * ? [a] {a,b} %self & | ; < > # $$ $fish_pid",
        "-n",
        "--",
        "\n",
        "a\n\n",
        "\t\r\x1b\x7f \u{83}\u{9b}\u{f600}\u{f6ff}\u{fdd0}\u{fffd}\u{10ffff} é 😀",
    ];

    /// The login shells of this machine that the values must survive (Unix only).
    #[cfg(unix)]
    fn local_shells() -> Vec<&'static str> {
        let all = [
            "/bin/sh",
            "/bin/dash",
            "/bin/bash",
            "/bin/zsh",
            "/usr/bin/zsh",
            "/usr/bin/fish",
        ];
        all.into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect()
    }

    #[cfg(unix)]
    fn run(shell: &str, line: &str) -> Vec<u8> {
        let out = std::process::Command::new(shell)
            .arg("-c")
            .arg(line)
            .env_remove("V")
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {line:?}: {out:?}");
        out.stdout
    }

    #[test]
    #[cfg(unix)]
    fn quoted_values_should_read_back_unchanged_in_every_local_shell() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("injected");
        let marker = marker.to_str().unwrap();
        let shells = local_shells();
        assert!(shells.contains(&"/bin/sh"), "{shells:?}");
        for shell in &shells {
            for raw in HOSTILE.iter().chain(&[""]) {
                let value = raw.replace('M', marker);
                // As an argument, as an exported variable, and as the directory to run in.
                let line = format!("command printf %s {}", shell_quote(&value));
                assert_eq!(run(shell, &line), value.as_bytes(), "{shell}: {line:?}");
                let exports = [("V".to_string(), value.clone())];
                let line = compose("printenv V", None, &exports);
                assert_eq!(
                    run(shell, &line),
                    format!("{value}\n").as_bytes(),
                    "{shell}: {line:?}"
                );
                if value.is_empty() {
                    continue;
                }
                let cwd = format!("{}/cwd/{value}", dir.path().display());
                std::fs::create_dir_all(&cwd).unwrap();
                let line = compose("pwd", Some(&cwd), &[]);
                assert_eq!(
                    run(shell, &line),
                    format!("{cwd}\n").as_bytes(),
                    "{shell}: {line:?}"
                );
            }
        }
        assert!(
            !std::path::Path::new(marker).exists(),
            "a value ran a command"
        );
    }

    #[test]
    fn compose_should_put_the_command_on_its_own_line() {
        assert_eq!(compose("ls", None, &[]), "ls");
        assert_eq!(
            compose("ls", Some("/tmp/x y"), &[("A".into(), "1'2".into())]),
            "export A='1'\\''2'\ncd '/tmp/x y' || exit 1\nls"
        );
        assert_eq!(compose("ls", Some("-x"), &[]), "cd './-x' || exit 1\nls");
        assert_eq!(compose("ls", Some(""), &[]), "ls");
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
        assert!(cmd.contains(r"grep -la -e '\''[0]123abcd'\''"), "{cmd}");
        assert!(cmd.contains("kill -s HUP -- \"-$t\"") && cmd.contains("kill -s INT"));
        assert_eq!(marker_export("ab"), "export SSH_MCP_RUN=ab");
    }

    #[test]
    #[cfg(unix)]
    fn the_marker_should_reach_commands_under_every_local_shell() {
        let line = format!("{}\nprintenv SSH_MCP_RUN", marker_export("0123abcd"));
        for shell in local_shells() {
            assert_eq!(run(shell, &line), b"0123abcd\n", "{shell}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn the_signal_command_should_run_under_every_local_shell() {
        // Each login shell hands it to sh intact, and sh runs it through; with no process
        // holding this id, nothing is signalled (CONT would be harmless anyway).
        let cmd = signal_marked("f00dfeedc0ffee42", &["CONT"]);
        for shell in local_shells() {
            assert_eq!(run(shell, &cmd), b"", "{shell}");
        }
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
