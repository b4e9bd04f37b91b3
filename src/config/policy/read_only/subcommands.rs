//! Tools driven by a subcommand: an allowlist of read subcommands each, checked here, and
//! the system tools (`systemctl`, `timedatectl`, `hostnamectl`, `ip`); the developer and
//! cluster tools are in [`super::devtools`].

use super::Check;
use super::commands::{Opts, options};
use super::words::WordInfo;

/// A subcommand-based tool.
pub(super) struct Tool {
    pub(super) name: &'static str,
    /// Options allowed before the subcommand that take no value.
    pub(super) flags: &'static [&'static str],
    /// Options allowed before the subcommand that take a value (`-C dir`, `-Cdir`,
    /// `--opt=value`).
    pub(super) values: &'static [&'static str],
    /// Read subcommands, with the allowed second-level subcommands where there are some.
    pub(super) subs: &'static [(&'static str, &'static [&'static str])],
    /// Whether the tool alone reads (`systemctl` lists units).
    pub(super) bare_ok: bool,
    /// Options refused after the subcommand; `None`: none writes there.
    pub(super) after: Option<&'static Opts>,
}

pub(super) fn attached(word: &str, option: &str) -> bool {
    if option.starts_with("--") {
        word.strip_prefix(option)
            .is_some_and(|r| r.starts_with('='))
    } else {
        word.len() > option.len() && word.starts_with(option)
    }
}

fn names(list: &[(&str, &[&str])]) -> String {
    list.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
}

/// The index of the subcommand, past the allowed leading options.
pub(super) fn leading_options(t: &Tool, args: &[WordInfo]) -> Result<usize, String> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(v) = a.value.as_deref() else {
            return Err(format!(
                "`{}`: `{}` must be written literally before the subcommand",
                t.name, a.raw
            ));
        };
        if !v.starts_with('-') {
            break;
        }
        if t.flags.contains(&v) || t.values.iter().any(|o| attached(v, o)) {
            i += 1;
        } else if t.values.contains(&v) {
            if args.get(i + 1).is_some_and(|w| !w.single()) {
                return Err(format!("`{} {v}`: quote the value", t.name));
            }
            i += 2;
        } else {
            let mut allowed: Vec<&str> = t.flags.iter().chain(t.values).copied().collect();
            allowed.sort_unstable();
            return Err(format!(
                "`{} {v}` is not allowed before the subcommand (allowed: {})",
                t.name,
                allowed.join(" ")
            ));
        }
    }
    Ok(i)
}

pub(super) fn tool(t: &Tool, args: &[WordInfo]) -> Check {
    let i = leading_options(t, args)?;
    let Some(sub) = args.get(i) else {
        return if t.bare_ok {
            Ok(())
        } else {
            Err(format!(
                "`{}` needs a subcommand ({})",
                t.name,
                names(t.subs)
            ))
        };
    };
    let v = sub.value.as_deref().unwrap_or(&sub.raw);
    let Some((_, second)) = t.subs.iter().find(|(s, _)| *s == v) else {
        return Err(format!(
            "`{} {v}` is not a read-only subcommand (allowed: {})",
            t.name,
            names(t.subs)
        ));
    };
    let mut rest = args.get(i + 1..).unwrap_or_default();
    if !second.is_empty() {
        let next = rest.first().and_then(|w| w.value.as_deref());
        match next {
            Some(n) if second.contains(&n) => rest = rest.get(1..).unwrap_or_default(),
            _ => {
                return Err(format!(
                    "`{} {v}` is allowed only as `{} {v} {}`",
                    t.name,
                    t.name,
                    second.join("|")
                ));
            }
        }
    }
    match t.after {
        Some(o) => options(&format!("{} {v}", t.name), rest, o),
        None => Ok(()),
    }
}

pub(super) fn systemctl(args: &[WordInfo]) -> Check {
    tool(
        &Tool {
            name: "systemctl",
            flags: &[
                "--no-pager",
                "--user",
                "--system",
                "--all",
                "-a",
                "--full",
                "-l",
                "--no-legend",
                "--plain",
                "-q",
                "--quiet",
                "--failed",
                "--no-ask-password",
                "--value",
            ],
            values: &[
                "-t",
                "--type",
                "--state",
                "-p",
                "--property",
                "-n",
                "--lines",
                "-o",
                "--output",
                "-H",
                "--host",
                "-M",
                "--machine",
            ],
            subs: &[
                ("status", &[]),
                ("show", &[]),
                ("cat", &[]),
                ("is-active", &[]),
                ("is-enabled", &[]),
                ("is-failed", &[]),
                ("is-system-running", &[]),
                ("list-units", &[]),
                ("list-unit-files", &[]),
                ("list-sockets", &[]),
                ("list-timers", &[]),
                ("list-jobs", &[]),
                ("list-dependencies", &[]),
                ("list-machines", &[]),
                ("list-paths", &[]),
                ("show-environment", &[]),
                ("get-default", &[]),
            ],
            bare_ok: true,
            after: None,
        },
        args,
    )
}

pub(super) fn timedatectl(args: &[WordInfo]) -> Check {
    tool(
        &Tool {
            name: "timedatectl",
            flags: &["--no-pager", "--no-ask-password", "-a", "--all", "--value"],
            values: &["-p", "--property", "-H", "--host", "-M", "--machine"],
            subs: &[
                ("status", &[]),
                ("show", &[]),
                ("list-timezones", &[]),
                ("timesync-status", &[]),
                ("show-timesync", &[]),
            ],
            bare_ok: true,
            after: None,
        },
        args,
    )
}

pub(super) fn hostnamectl(args: &[WordInfo]) -> Check {
    tool(
        &Tool {
            name: "hostnamectl",
            flags: &[
                "--no-pager",
                "--no-ask-password",
                "--static",
                "--transient",
                "--pretty",
            ],
            values: &["-H", "--host", "-M", "--machine", "--json"],
            subs: &[("status", &[])],
            bare_ok: true,
            after: None,
        },
        args,
    )
}

/// `ip [OPTIONS] OBJECT [show|list|lst|get …]`. Commands are matched exactly: `ip` takes any
/// prefix (and `ip link s` means `set`).
pub(super) fn ip(args: &[WordInfo]) -> Check {
    const OPTIONS: &[&str] = &[
        "-4",
        "-6",
        "-br",
        "-brief",
        "-s",
        "-stats",
        "-statistics",
        "-d",
        "-details",
        "-j",
        "-json",
        "-p",
        "-pretty",
        "-o",
        "-oneline",
        "-color",
    ];
    let mut words = args.iter().map(|w| w.value.as_deref());
    let mut object = None;
    for w in words.by_ref() {
        match w {
            Some(o) if OPTIONS.contains(&o) => {}
            Some(o) if !o.starts_with('-') => {
                object = Some(o);
                break;
            }
            _ => {
                return Err(format!(
                    "`ip` option not allowed (allowed: {})",
                    OPTIONS.join(" ")
                ));
            }
        }
    }
    let route = match object {
        Some("r" | "ro" | "route") => true,
        Some(
            "a" | "addr" | "address" | "l" | "link" | "n" | "neigh" | "neighbor" | "neighbour"
            | "ru" | "rule",
        ) => false,
        _ => {
            return Err("`ip` is allowed only for address, route, link, neigh and rule (e.g. `ip addr show`, `ip route`)".into());
        }
    };
    match words.next() {
        None | Some(Some("show" | "list" | "lst")) => Ok(()),
        Some(Some("get")) if route => Ok(()),
        _ => {
            Err("`ip` is allowed only with `show`, `list` (or `ip route get`), spelled out".into())
        }
    }
}
