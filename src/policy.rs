//! Operator policy: which hosts the model may reach, whether it may pass credentials, and
//! which commands it may run.
//!
//! The command policy is a guardrail against a model's mistakes, not a sandbox: a shell
//! offers endless ways to do the same thing (`python -c`, `perl -e`, here-documents), and
//! a determined model, or a prompt injection, can find one. Use a least-privileged remote
//! account for real containment.

use regex_lite::Regex;

use crate::config::Security;
use crate::error::{Error, Result};
use crate::ssh::known_hosts::wildcard_match;

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

/// What the operator allows.
#[derive(Debug, Default)]
pub struct Policy {
    allowed_hosts: Vec<String>,
    credentials_in_arguments: bool,
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    read_only: bool,
}

impl Policy {
    /// No restriction at all (the default without a config file).
    pub fn open() -> Self {
        Self {
            credentials_in_arguments: true,
            ..Default::default()
        }
    }

    /// The policy of a `[security]` section. Bad regexes and presets are errors.
    pub fn from_config(s: &Security) -> Result<Self> {
        let compile = |list: &[String], what: &str| -> Result<Vec<Regex>> {
            list.iter()
                .map(|r| {
                    Regex::new(r).map_err(|e| {
                        Error::InvalidArgument(format!("security.commands.{what}: {r:?}: {e}"))
                    })
                })
                .collect()
        };
        let read_only = match s.commands.preset.as_deref() {
            None => false,
            Some("read_only") => true,
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "security.commands.preset: unknown preset {other:?} (known: read_only)"
                )));
            }
        };
        Ok(Self {
            allowed_hosts: s
                .allowed_hosts
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
            credentials_in_arguments: s.allow_credentials_in_arguments,
            allow: compile(&s.commands.allow, "allow")?,
            deny: compile(&s.commands.deny, "deny")?,
            read_only,
        })
    }

    /// Whether the model may pass `password`, `key_path` or `passphrase`.
    pub fn credentials_in_arguments(&self) -> bool {
        self.credentials_in_arguments
    }

    /// Refuses a host outside the allowlist. Patterns match `host` or `host:port`; a
    /// matching `!pattern` refuses the host whatever else matches.
    pub fn check_host(&self, host: &str, port: u16) -> Result<()> {
        if self.allowed_hosts.is_empty() {
            return Ok(());
        }
        let host = host.to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        let hit = |p: &str| wildcard_match(p, &host) || wildcard_match(p, &with_port);
        let mut allowed = false;
        for p in &self.allowed_hosts {
            match p.strip_prefix('!') {
                Some(neg) if hit(neg) => {
                    allowed = false;
                    break;
                }
                Some(_) => {}
                None => allowed |= hit(p),
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(Error::Policy(format!(
                "{host}:{port} is not in this server's list of allowed hosts"
            )))
        }
    }

    /// Refuses a command the policy does not allow.
    pub fn check_command(&self, command: &str) -> Result<()> {
        if let Some(r) = self.deny.iter().find(|r| r.is_match(command)) {
            return Err(Error::Policy(format!(
                "the command matches the deny rule {:?}",
                r.as_str()
            )));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.is_match(command)) {
            return Err(Error::Policy(
                "the command matches none of the allowed patterns".into(),
            ));
        }
        if self.read_only {
            read_only_check(command)?;
        }
        Ok(())
    }
}

/// The `read_only` preset: no output redirection to files, no known mutating command.
fn read_only_check(command: &str) -> Result<()> {
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
    use super::*;
    use crate::config::{CommandPolicyConfig, Security};

    fn policy(hosts: &[&str], preset: Option<&str>, allow: &[&str], deny: &[&str]) -> Policy {
        Policy::from_config(&Security {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allow_credentials_in_arguments: true,
            commands: CommandPolicyConfig {
                preset: preset.map(String::from),
                allow: allow.iter().map(|s| s.to_string()).collect(),
                deny: deny.iter().map(|s| s.to_string()).collect(),
            },
        })
        .unwrap()
    }

    #[test]
    fn host_allowlist_should_follow_patterns_and_negation() {
        let p = policy(
            &["*.internal", "!db.internal", "10.0.0.?:2222"],
            None,
            &[],
            &[],
        );
        assert!(p.check_host("web.internal", 22).is_ok());
        assert!(p.check_host("WEB.internal", 22).is_ok());
        assert!(p.check_host("db.internal", 22).is_err());
        assert!(p.check_host("10.0.0.5", 2222).is_ok());
        assert!(p.check_host("10.0.0.5", 22).is_err());
        assert!(p.check_host("example.com", 22).is_err());
        assert!(Policy::open().check_host("anything", 1).is_ok());
    }

    #[test]
    fn read_only_preset_should_refuse_obvious_changes() {
        let p = policy(&[], Some("read_only"), &[], &[]);
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
            assert!(p.check_command(ok).is_ok(), "{ok} should be allowed");
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
            assert!(p.check_command(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn allow_and_deny_regexes_should_apply() {
        let p = policy(&[], None, &["^(ls|cat) "], &["/etc/shadow"]);
        assert!(p.check_command("ls /tmp").is_ok());
        assert!(p.check_command("cat /etc/shadow").is_err());
        assert!(p.check_command("uname -a").is_err());
        assert!(
            Policy::from_config(&Security {
                commands: CommandPolicyConfig {
                    deny: vec!["(".into()],
                    ..Default::default()
                },
                ..Default::default()
            })
            .is_err()
        );
    }
}
