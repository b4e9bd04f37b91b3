//! The read-only command set and the rules for each command's arguments.

use super::words::WordInfo;
use super::{Check, assignable, scripts, subcommands};

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
        "find" => Rule::Custom(find),
        "sed" => Rule::Custom(scripts::sed),
        "awk" | "gawk" | "mawk" => Rule::Custom(scripts::awk),
        "test" => Rule::Custom(test),
        "[" => Rule::Custom(bracket),
        "date" => Rule::Custom(date),
        "hostname" => Rule::Custom(hostname),
        "uniq" => Rule::Custom(uniq),
        "env" => Rule::Custom(env),
        "mount" => Rule::Custom(mount),
        "printf" => Rule::Custom(printf),
        "read" => Rule::Custom(read),
        "set" => Rule::Custom(set),
        "exit" => Rule::Custom(exit),
        "command" => Rule::Custom(command),
        "sysctl" => Rule::Custom(sysctl),
        "ip" => Rule::Custom(subcommands::ip),
        "systemctl" => Rule::Custom(subcommands::systemctl),
        "timedatectl" => Rule::Custom(subcommands::timedatectl),
        "hostnamectl" => Rule::Custom(subcommands::hostnamectl),
        "git" => Rule::Custom(subcommands::git),
        "docker" | "podman" => Rule::Custom(subcommands::docker),
        "kubectl" => Rule::Custom(subcommands::kubectl),
        "sudo" => Rule::Wrapper(subcommands::sudo),
        "timeout" => Rule::Wrapper(subcommands::timeout),
        "nice" => Rule::Wrapper(subcommands::nice),
        "xargs" => Rule::Wrapper(subcommands::xargs),
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
            let Some(at) = f(args)? else { return Ok(()) };
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
fn all_static<'a>(cmd: &str, args: &'a [WordInfo]) -> Result<Vec<&'a str>, String> {
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

fn find(args: &[WordInfo]) -> Check {
    const WRITING: &[&str] = &[
        "-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls",
    ];
    for a in args {
        match a.value.as_deref() {
            Some(v) if WRITING.contains(&v) => {
                return Err(format!(
                    "`find {v}` runs or writes; use `find … -print` and read the list"
                ));
            }
            Some(_) => {}
            None if a.cannot_be_option() => {}
            None => return Err(unknown_argument("find", a)),
        }
    }
    Ok(())
}

/// `test`/`[`: no `-v`/`-R` (they evaluate array subscripts, which can run code), and an
/// argument whose value is unknown only where it cannot be taken for an operator.
fn test(args: &[WordInfo]) -> Check {
    const UNARY: &[&str] = &[
        "-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w",
        "-x", "-G", "-L", "-N", "-O", "-S", "-n", "-z", "-o",
    ];
    const BINARY: &[&str] = &[
        "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
    ];
    let op = |w: Option<&WordInfo>, set: &[&str]| {
        w.and_then(|w| w.value.as_deref())
            .is_some_and(|v| set.contains(&v))
    };
    for (i, a) in args.iter().enumerate() {
        if a.is("-v") || a.is("-R") {
            return Err(
                "`test -v`/`-R` is not allowed (it can run code through an array subscript)".into(),
            );
        }
        if a.value.is_some() {
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| args.get(p));
        // `-a`/`-o` after an operand join two tests: what follows them starts a new test.
        let after_operator =
            op(prev, UNARY) && !prev.is_some_and(|p| p.is("-a") || p.is("-o")) || op(prev, BINARY);
        let alone = args.len() == 1;
        let left_of_binary = i == 0 && args.len() >= 3 && op(args.get(1), BINARY);
        if !a.single() || !(after_operator || alone || left_of_binary) {
            return Err(format!(
                "`test`: the argument `{}` could be read as an operator; quote expansions and \
                 put them after an operator (`[ -f \"$f\" ]`, `[ \"$a\" = b ]`)",
                a.raw
            ));
        }
    }
    Ok(())
}

fn bracket(args: &[WordInfo]) -> Check {
    match args.split_last() {
        Some((last, rest)) if last.is("]") => test(rest),
        _ => Err("`[` needs a closing `]`".into()),
    }
}

fn date(args: &[WordInfo]) -> Check {
    const SET: Opts = Opts {
        short: "s",
        long: &["set"],
        exact_ok: &[],
    };
    options("date", args, &SET)?;
    // An operand that is not a `+FORMAT` sets the clock (`date 0101000030`).
    let takes_value = [
        "-d",
        "--date",
        "-f",
        "--file",
        "-r",
        "--reference",
        "--rfc-3339",
    ];
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        match a.value.as_deref() {
            Some(v) if takes_value.contains(&v) => skip = true,
            Some(v) if v.starts_with('-') || v.starts_with('+') => {}
            _ => {
                return Err(format!(
                    "`date {}` would set the clock; only `+FORMAT` operands are allowed",
                    a.raw
                ));
            }
        }
    }
    Ok(())
}

fn hostname(args: &[WordInfo]) -> Check {
    const SET: Opts = Opts {
        short: "Fb",
        long: &["file", "boot"],
        exact_ok: &[],
    };
    for v in all_static("hostname", args)? {
        if !v.starts_with('-') {
            return Err(format!(
                "`hostname {v}` would set the host name; only options are allowed"
            ));
        }
    }
    options("hostname", args, &SET)
}

/// `uniq`: a second operand is an output file.
fn uniq(args: &[WordInfo]) -> Check {
    let mut operands = 0;
    let mut skip = false;
    for v in all_static("uniq", args)? {
        if std::mem::take(&mut skip) {
            continue;
        }
        if matches!(v, "-f" | "-s" | "-w") {
            skip = true;
        } else if !v.starts_with('-') || v == "-" {
            operands += 1;
        }
    }
    if operands > 1 {
        return Err("`uniq INPUT OUTPUT` writes OUTPUT; give it one input at most".into());
    }
    Ok(())
}

/// `env` alone prints the environment; with a command it runs it.
fn env(args: &[WordInfo]) -> Check {
    if all_static("env", args)?
        .iter()
        .all(|v| matches!(*v, "-0" | "--null"))
    {
        Ok(())
    } else {
        Err("`env` with arguments runs a command; run it directly (`name=value cmd` with a lower-case name is fine)".into())
    }
}

/// `mount` alone lists the mounts.
fn mount(args: &[WordInfo]) -> Check {
    if all_static("mount", args)?.iter().all(|v| *v == "-l") {
        Ok(())
    } else {
        Err("`mount` with arguments mounts; only `mount` alone (to list) is allowed".into())
    }
}

/// bash's `printf -v NAME` assigns (and evaluates an array subscript in NAME).
fn printf(args: &[WordInfo]) -> Check {
    match args.first() {
        Some(a) if a.value.as_deref().is_some_and(|v| v.starts_with("-v")) => {
            Err("`printf -v` is not allowed".into())
        }
        Some(a) if !a.cannot_be_option() => Err(unknown_argument("printf", a)),
        _ => Ok(()),
    }
}

/// `read`: plain variable names the assignment rule accepts.
fn read(args: &[WordInfo]) -> Check {
    let mut value_next = false;
    for v in all_static("read", args)? {
        if std::mem::take(&mut value_next) {
            continue;
        }
        match v {
            "-r" | "-s" | "-rs" | "-sr" => {}
            "-d" | "-n" | "-N" | "-t" | "-u" | "-p" => value_next = true,
            "-a" => {}
            _ if v.starts_with('-') => {
                return Err(format!(
                    "`read {v}` is not allowed (use -r, -s, -d, -n, -N, -t, -u, -p, -a)"
                ));
            }
            _ if assignable(v) => {}
            _ => {
                return Err(format!(
                    "`read {v}`: assigning `{v}` is not allowed; use a lower-case variable name"
                ));
            }
        }
    }
    Ok(())
}

/// `set`: error and trace switches only (`set -k` and others change how later words are
/// read).
fn set(args: &[WordInfo]) -> Check {
    for v in all_static("set", args)? {
        let flags = v.strip_prefix(['-', '+']).unwrap_or("");
        let ok = matches!(v, "pipefail" | "errexit" | "nounset" | "xtrace")
            || (!flags.is_empty() && flags.chars().all(|c| "euxo".contains(c)));
        if !ok {
            return Err(format!(
                "`set {v}` is not allowed (only -e, -u, -x, -o pipefail and their + forms)"
            ));
        }
    }
    Ok(())
}

fn exit(args: &[WordInfo]) -> Check {
    match all_static("exit", args)?.as_slice() {
        [] => Ok(()),
        [code] if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err("`exit` takes a literal status number only".into()),
    }
}

/// `command -v NAME` tells what NAME is; `command NAME` would run it past the checks.
fn command(args: &[WordInfo]) -> Check {
    match args.first().and_then(|a| a.value.as_deref()) {
        Some("-v" | "-V") => Ok(()),
        _ => Err("`command` is allowed only as `command -v NAME`; run commands directly".into()),
    }
}

/// `sysctl NAME` reads; `-w`, `-p`, `--system` and `NAME=VALUE` write.
fn sysctl(args: &[WordInfo]) -> Check {
    const WRITE: Opts = Opts {
        short: "wpf",
        long: &["write", "load", "system"],
        exact_ok: &[],
    };
    for v in all_static("sysctl", args)? {
        if v.contains('=') {
            return Err(format!(
                "`sysctl {v}` sets a value; only reading is allowed"
            ));
        }
    }
    options("sysctl", args, &WRITE)
}
