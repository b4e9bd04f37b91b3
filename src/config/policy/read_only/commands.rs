//! The read-only command set and the rules for each command's arguments.

use super::words::WordInfo;
use super::{Check, awk, devtools, sed, subcommands, utilities, wrappers};

/// How a command's arguments are checked.
pub(super) enum Rule {
    /// Every option and operand only reads.
    Plain,
    /// getopt-style options, some of which write.
    Options(&'static Opts),
    /// Its own check.
    Custom(fn(&[WordInfo]) -> Check),
    /// Runs another command: returns where that command's name is among the arguments
    /// (`None`: it runs none).
    Wrapper(fn(&[WordInfo]) -> Result<Option<usize>, String>),
}

/// Options refused for a getopt-style command (long ones also by any abbreviation).
pub(super) struct Opts {
    pub short: &'static str,
    pub long: &'static [&'static str],
    /// Long options that are abbreviations of refused ones but exist in their own right.
    pub exact_ok: &'static [&'static str],
}

/// Commands that only read whatever their options.
const PLAIN: &[&str] = &[
    "ls",
    "cat",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "zcat",
    "wc",
    "cut",
    "tr",
    "tac",
    "nl",
    "rev",
    "fold",
    "paste",
    "comm",
    "join",
    "column",
    "seq",
    "expand",
    "unexpand",
    "stat",
    "df",
    "du",
    "ps",
    "pgrep",
    "uname",
    "id",
    "whoami",
    "groups",
    "uptime",
    "free",
    "vmstat",
    "nproc",
    "lscpu",
    "lsmod",
    "lsblk",
    "findmnt",
    "printenv",
    "echo",
    "true",
    "false",
    ":",
    "which",
    "type",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "base64",
    "od",
    "hexdump",
    "strings",
    "diff",
    "cmp",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "pwd",
    "cd",
    "sleep",
    "w",
    "who",
    "last",
    "getent",
    "netstat",
    "lsof",
    "jq",
];

const SORT: Opts = Opts {
    short: "o",
    long: &["output", "compress-program"],
    exact_ok: &[],
};
const FILE: Opts = Opts {
    short: "C",
    long: &["compile"],
    exact_ok: &[],
};
const SS: Opts = Opts {
    short: "KD",
    long: &["kill", "diag"],
    exact_ok: &[],
};
const DMESG: Opts = Opts {
    short: "cCDEn",
    long: &[
        "clear",
        "read-clear",
        "console-off",
        "console-on",
        "console-level",
    ],
    exact_ok: &[],
};
const JOURNALCTL: Opts = Opts {
    short: "",
    long: &[
        "rotate",
        "vacuum-size",
        "vacuum-time",
        "vacuum-files",
        "flush",
        "sync",
        "relinquish-var",
        "smart-relinquish-var",
        "setup-keys",
        "update-catalog",
        "cursor-file",
    ],
    exact_ok: &["cursor"],
};

/// The rule for a command name, `None` when it is not in the read-only set.
pub(super) fn rule(name: &str) -> Option<Rule> {
    if PLAIN.contains(&name) {
        return Some(Rule::Plain);
    }
    Some(match name {
        "sort" => Rule::Options(&SORT),
        "file" => Rule::Options(&FILE),
        "ss" => Rule::Options(&SS),
        "dmesg" => Rule::Options(&DMESG),
        "journalctl" => Rule::Options(&JOURNALCTL),
        "find" => Rule::Custom(utilities::find),
        "sed" => Rule::Custom(sed::sed),
        "awk" | "gawk" | "mawk" => Rule::Custom(awk::awk),
        "test" => Rule::Custom(utilities::test),
        "[" => Rule::Custom(utilities::bracket),
        "date" => Rule::Custom(utilities::date),
        "hostname" => Rule::Custom(utilities::hostname),
        "uniq" => Rule::Custom(utilities::uniq),
        "env" => Rule::Custom(utilities::env),
        "mount" => Rule::Custom(utilities::mount),
        "printf" => Rule::Custom(utilities::printf),
        "read" => Rule::Custom(utilities::read),
        "set" => Rule::Custom(utilities::set),
        "exit" => Rule::Custom(utilities::exit),
        "command" => Rule::Custom(utilities::command),
        "sysctl" => Rule::Custom(utilities::sysctl),
        "ip" => Rule::Custom(subcommands::ip),
        "systemctl" => Rule::Custom(subcommands::systemctl),
        "timedatectl" => Rule::Custom(subcommands::timedatectl),
        "hostnamectl" => Rule::Custom(subcommands::hostnamectl),
        "git" => Rule::Custom(devtools::git),
        "docker" | "podman" => Rule::Custom(devtools::docker),
        "kubectl" => Rule::Custom(devtools::kubectl),
        "sudo" => Rule::Wrapper(wrappers::sudo),
        "timeout" => Rule::Wrapper(wrappers::timeout),
        "nice" => Rule::Wrapper(wrappers::nice),
        "xargs" => Rule::Wrapper(wrappers::xargs),
        _ => return None,
    })
}

/// Directories a command may be named from (`/usr/bin/ls`).
const SYSTEM_DIRS: &[&str] = &["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"];

/// Wrappers inside wrappers, at most.
const MAX_WRAPPERS: usize = 3;

/// Checks a simple command. `under_xargs`: more arguments, unknown ones, are appended.
pub(super) fn check(name: &WordInfo, args: &[WordInfo], under_xargs: bool, depth: usize) -> Check {
    // `[` alone is no glob: it is the test command.
    let plain_name = if name.raw == "[" {
        Some("[")
    } else {
        name.value.as_deref().filter(|v| *v == name.raw)
    };
    let Some(written) = plain_name else {
        return Err(if name.value.is_none() {
            format!(
                "the command name `{}` comes from an expansion; name the command literally",
                name.raw
            )
        } else {
            format!(
                "the command name `{}` is quoted or escaped; write it as a plain word",
                name.raw
            )
        });
    };
    let bare = SYSTEM_DIRS
        .iter()
        .find_map(|d| written.strip_prefix(d))
        .unwrap_or(written);
    if bare.contains('/') {
        return Err(format!(
            "`{written}` is run by path; run commands by name (or from /usr/bin, /bin, /usr/sbin, /sbin)"
        ));
    }
    let Some(rule) = rule(bare) else {
        return Err(format!(
            "`{bare}` is not in the read-only command set (ls, cat, grep, find, ps, df, \
             journalctl, systemctl status, git log, … see the README)"
        ));
    };
    match rule {
        Rule::Plain => Ok(()),
        _ if under_xargs && !matches!(rule, Rule::Wrapper(_)) => Err(format!(
            "`{bare}` cannot run under xargs in read-only mode (its arguments would not be \
             known); only commands whose every option reads can"
        )),
        Rule::Options(o) => options(bare, args, o),
        Rule::Custom(f) => f(args),
        Rule::Wrapper(f) => {
            let Some(at) = f(args)? else {
                // Without a command of its own, the wrapper would run what xargs appends.
                return if under_xargs {
                    Err(format!(
                        "under xargs, `{bare}` must name the command it runs; read-only mode cannot check what xargs would append"
                    ))
                } else {
                    Ok(())
                };
            };
            if depth >= MAX_WRAPPERS {
                return Err(format!("too many wrapper commands around `{bare}`"));
            }
            let (inner, rest) = args
                .split_at(at)
                .1
                .split_first()
                .ok_or_else(|| format!("`{bare}` needs a command"))?;
            check(inner, rest, under_xargs || bare == "xargs", depth + 1)
        }
    }
}

/// getopt-style arguments: refused short letters (also inside clusters like `-ni`), refused
/// long options and their abbreviations; an argument whose value is not known must not be
/// able to become an option, unless it follows `--`.
pub(super) fn options(cmd: &str, args: &[WordInfo], o: &Opts) -> Check {
    let mut prev_option = false;
    for a in args {
        let Some(v) = a.value.as_deref() else {
            if !a.cannot_be_option() {
                return Err(unknown_argument(cmd, a));
            }
            prev_option = false;
            continue;
        };
        if v == "--" && !prev_option {
            return Ok(());
        }
        if let Some(long) = v.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            if let Some(r) = o
                .long
                .iter()
                .find(|r| !name.is_empty() && r.starts_with(name) && !o.exact_ok.contains(&name))
            {
                return Err(format!(
                    "`{cmd} --{r}` writes; it is not allowed in read-only mode"
                ));
            }
        } else if let Some(short) = v.strip_prefix('-')
            && let Some(c) = short.chars().find(|c| o.short.contains(*c))
        {
            return Err(format!(
                "`{cmd} -{c}` (in `{v}`) writes; it is not allowed in read-only mode"
            ));
        }
        prev_option = v.starts_with('-');
    }
    Ok(())
}

pub(super) fn unknown_argument(cmd: &str, a: &WordInfo) -> String {
    format!(
        "`{cmd}`: the argument `{}` could expand to an option; write it literally, quoted, or \
         start it with a fixed path (`/…`, `./…`)",
        a.raw
    )
}

/// Every argument static.
pub(super) fn all_static<'a>(cmd: &str, args: &'a [WordInfo]) -> Result<Vec<&'a str>, String> {
    args.iter()
        .map(|a| {
            a.value.as_deref().ok_or_else(|| {
                format!(
                    "`{cmd}`: the argument `{}` must be written literally",
                    a.raw
                )
            })
        })
        .collect()
}
