//! The `read_only` command preset.

use crate::error::{Error, Result};

/// Commands the `read_only` preset refuses as the first word of any part of a command line.
const MUTATING: &[&str] = &[
    "rm", "rmdir", "mv", "cp", "dd", "mkdir", "touch", "chmod", "chown", "chgrp", "ln", "truncate",
    "shred", "tee", "install", "kill", "killall", "pkill", "reboot", "shutdown", "poweroff",
    "halt", "service", "apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "rpm", "zypper", "apk",
    "pacman", "snap", "pip", "pip3", "npm", "yarn", "gem", "cargo", "useradd", "userdel",
    "usermod", "groupadd", "groupdel", "passwd", "chpasswd", "crontab", "mount", "umount", "mkfs",
    "fdisk", "parted", "wipefs", "iptables", "nft", "sysctl", "su", "scp", "rsync", "patch",
    "unlink",
];

/// Sub-commands that change state, for tools that also have read-only uses.
const MUTATING_SUBCOMMANDS: &[(&str, &[&str])] = &[
    (
        "systemctl",
        &[
            "start",
            "stop",
            "restart",
            "reload",
            "enable",
            "disable",
            "mask",
            "unmask",
            "kill",
            "daemon-reload",
            "set-property",
            "edit",
            "isolate",
            "poweroff",
            "reboot",
        ],
    ),
    (
        "git",
        &[
            "push",
            "commit",
            "reset",
            "checkout",
            "clean",
            "rebase",
            "merge",
            "pull",
            "rm",
            "mv",
            "stash",
            "tag",
            "branch",
            "apply",
            "am",
            "cherry-pick",
            "revert",
            "switch",
            "restore",
            "init",
            "clone",
            "fetch",
            "gc",
        ],
    ),
    (
        "docker",
        &[
            "rm", "rmi", "run", "stop", "kill", "restart", "start", "exec", "build", "push",
            "pull", "prune", "create", "compose", "system", "volume", "network", "update",
        ],
    ),
    (
        "kubectl",
        &[
            "apply", "create", "delete", "edit", "patch", "replace", "scale", "rollout", "drain",
            "cordon", "uncordon", "taint", "label", "annotate", "exec", "cp", "run", "expose",
            "set",
        ],
    ),
    ("sed", &["-i", "--in-place"]),
];

/// The `read_only` preset: no output redirection to files, no known mutating command.
pub(super) fn check(command: &str) -> Result<()> {
    let mut stripped = command.to_string();
    for harmless in [
        "2>&1",
        "1>&2",
        ">&2",
        "&>/dev/null",
        "2>/dev/null",
        ">/dev/null",
        "> /dev/null",
    ] {
        stripped = stripped.replace(harmless, " ");
    }
    if stripped.contains('>') {
        return Err(Error::Policy(
            "read-only mode: output redirection to a file is not allowed".into(),
        ));
    }
    let separators = |c: char| matches!(c, ';' | '|' | '&' | '\n' | '(' | ')' | '`' | '{' | '}');
    for part in stripped.split(separators) {
        let mut words = part
            .split_whitespace()
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .peekable();
        // `sudo`, `env`, `nice` and friends run a later word: skip them, their options, the
        // values of options that take one, and `timeout`'s duration.
        let mut takes_value = false;
        while let Some(w) = words.peek() {
            let wrapper = matches!(
                *w,
                "sudo"
                    | "doas"
                    | "env"
                    | "nice"
                    | "ionice"
                    | "nohup"
                    | "time"
                    | "timeout"
                    | "xargs"
                    | "exec"
                    | "command"
                    | "stdbuf"
            );
            let option = w.starts_with('-');
            let duration = w
                .trim_end_matches(['s', 'm', 'h', 'd'])
                .parse::<f64>()
                .is_ok();
            if wrapper || option || takes_value || duration {
                takes_value = option
                    && matches!(
                        *w,
                        "-u" | "-g"
                            | "-h"
                            | "-p"
                            | "-C"
                            | "-r"
                            | "-t"
                            | "-U"
                            | "-D"
                            | "-n"
                            | "-s"
                            | "-k"
                    );
                words.next();
            } else {
                break;
            }
        }
        let Some(first) = words.next() else { continue };
        let name = first.rsplit('/').next().unwrap_or(first);
        if MUTATING.contains(&name) || name.starts_with("mkfs") {
            return Err(Error::Policy(format!(
                "read-only mode: `{name}` changes the system"
            )));
        }
        if let Some((_, subs)) = MUTATING_SUBCOMMANDS.iter().find(|(c, _)| *c == name)
            && words.any(|w| subs.contains(&w))
        {
            return Err(Error::Policy(format!(
                "read-only mode: this `{name}` invocation changes the system"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn read_only_preset_should_refuse_obvious_changes() {
        for ok in [
            "ls -la /etc",
            "cat /var/log/syslog | grep error 2>&1",
            "df -h; free -m",
            "systemctl status nginx",
            "git log --oneline",
            "docker ps",
            "grep x y >/dev/null",
            "FOO=1 env | sort",
            "sed -n 1,5p file",
        ] {
            assert!(check(ok).is_ok(), "{ok} should be allowed");
        }
        for bad in [
            "rm -rf /tmp/x",
            "echo hi > /etc/motd",
            "ls; sudo rm x",
            "cat a | tee b",
            "systemctl restart nginx",
            "git push origin main",
            "/bin/mv a b",
            "sudo -u root chmod 777 x",
            "FOO=1 dd if=/dev/zero of=x",
            "sed -i s/a/b/ f",
            "mkfs.ext4 /dev/sdb",
            "echo x >> y",
            "(cd /; rm x)",
            "docker run alpine",
        ] {
            assert!(check(bad).is_err(), "{bad} should be refused");
        }
    }
}
