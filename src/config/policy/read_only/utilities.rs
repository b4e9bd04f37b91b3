//! Commands of the read-only set whose arguments have rules of their own.

use super::commands::{Opts, all_static, options, unknown_argument};
use super::words::WordInfo;
use super::{Check, assignable};

pub(super) fn find(args: &[WordInfo]) -> Check {
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
pub(super) fn test(args: &[WordInfo]) -> Check {
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

pub(super) fn bracket(args: &[WordInfo]) -> Check {
    match args.split_last() {
        Some((last, rest)) if last.is("]") => test(rest),
        _ => Err("`[` needs a closing `]`".into()),
    }
}

pub(super) fn date(args: &[WordInfo]) -> Check {
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

pub(super) fn hostname(args: &[WordInfo]) -> Check {
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
pub(super) fn uniq(args: &[WordInfo]) -> Check {
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
pub(super) fn env(args: &[WordInfo]) -> Check {
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
pub(super) fn mount(args: &[WordInfo]) -> Check {
    if all_static("mount", args)?.iter().all(|v| *v == "-l") {
        Ok(())
    } else {
        Err("`mount` with arguments mounts; only `mount` alone (to list) is allowed".into())
    }
}

/// bash's `printf -v NAME` assigns (and evaluates an array subscript in NAME).
pub(super) fn printf(args: &[WordInfo]) -> Check {
    match args.first() {
        Some(a) if a.value.as_deref().is_some_and(|v| v.starts_with("-v")) => {
            Err("`printf -v` is not allowed".into())
        }
        Some(a) if !a.cannot_be_option() => Err(unknown_argument("printf", a)),
        _ => Ok(()),
    }
}

/// `read`: plain variable names the assignment rule accepts.
pub(super) fn read(args: &[WordInfo]) -> Check {
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
pub(super) fn set(args: &[WordInfo]) -> Check {
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

pub(super) fn exit(args: &[WordInfo]) -> Check {
    match all_static("exit", args)?.as_slice() {
        [] => Ok(()),
        [code] if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err("`exit` takes a literal status number only".into()),
    }
}

/// `command -v NAME` tells what NAME is; `command NAME` would run it past the checks.
pub(super) fn command(args: &[WordInfo]) -> Check {
    match args.first().and_then(|a| a.value.as_deref()) {
        Some("-v" | "-V") => Ok(()),
        _ => Err("`command` is allowed only as `command -v NAME`; run commands directly".into()),
    }
}

/// `sysctl NAME` reads; `-w`, `-p`, `--system` and `NAME=VALUE` write.
pub(super) fn sysctl(args: &[WordInfo]) -> Check {
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
