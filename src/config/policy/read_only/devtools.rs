//! Developer and cluster tools driven by a subcommand (`git`, `docker`, `kubectl`): an
//! allowlist of read subcommands each, checked by [`super::subcommands`].

use super::Check;
use super::commands::Opts;
use super::subcommands::{Tool, leading_options, tool};
use super::words::WordInfo;

pub(super) fn git(args: &[WordInfo]) -> Check {
    const AFTER: Opts = Opts {
        short: "O",
        long: &["output", "ext-diff", "open-files-in-pager"],
        exact_ok: &[],
    };
    let t = Tool {
        name: "git",
        flags: &[
            "--no-pager",
            "-P",
            "--no-optional-locks",
            "--version",
            "--help",
        ],
        values: &["-C"],
        subs: &[
            ("log", &[]),
            ("show", &[]),
            ("status", &[]),
            ("diff", &[]),
            ("blame", &[]),
            ("shortlog", &[]),
            ("rev-parse", &[]),
            ("rev-list", &[]),
            ("ls-files", &[]),
            ("ls-tree", &[]),
            ("cat-file", &[]),
            ("describe", &[]),
            ("grep", &[]),
            ("show-ref", &[]),
            ("version", &[]),
            ("stash", &["list", "show"]),
            ("branch", &[]),
            ("tag", &[]),
            ("remote", &[]),
        ],
        bare_ok: true,
        after: Some(&AFTER),
    };
    let i = leading_options(&t, args)?;
    let sub = args.get(i).and_then(|w| w.value.as_deref());
    let rest = args.get(i + 1..).unwrap_or_default();
    // These three create, delete or rename with operands or other options: only listing.
    let listing: &[&str] = match sub {
        Some("branch") => &[
            "-a",
            "-r",
            "-v",
            "-vv",
            "--all",
            "--remotes",
            "--verbose",
            "--list",
            "-l",
            "--show-current",
            "--no-color",
        ],
        Some("remote") => &["-v", "--verbose"],
        Some("tag") => &["-l", "--list"],
        _ => return tool(&t, args),
    };
    let sub = sub.unwrap_or_default();
    let tag_list = sub == "tag" && rest.iter().any(|w| w.is("-l") || w.is("--list"));
    for w in rest {
        let ok = listing.iter().any(|o| w.is(o))
            || (tag_list && w.value.as_deref().is_some_and(|v| !v.starts_with('-')));
        if !ok {
            return Err(format!(
                "`git {sub} {}` is not allowed: only listing ({})",
                w.raw,
                listing.join(" ")
            ));
        }
    }
    Ok(())
}

pub(super) fn docker(args: &[WordInfo]) -> Check {
    const CONTAINER: &[&str] = &[
        "ls", "list", "ps", "inspect", "logs", "top", "port", "stats", "diff",
    ];
    const LIST: &[&str] = &["ls", "list", "inspect"];
    tool(
        &Tool {
            name: "docker",
            flags: &["-D", "--debug"],
            values: &["-H", "--host", "-c", "--context", "-l", "--log-level"],
            subs: &[
                ("ps", &[]),
                ("images", &[]),
                ("logs", &[]),
                ("inspect", &[]),
                ("version", &[]),
                ("info", &[]),
                ("top", &[]),
                ("port", &[]),
                ("stats", &[]),
                ("history", &[]),
                ("events", &[]),
                ("diff", &[]),
                ("container", CONTAINER),
                ("image", &["ls", "list", "inspect", "history"]),
                ("network", LIST),
                ("volume", LIST),
                ("system", &["df", "info"]),
                ("compose", &["ps", "logs", "ls", "images", "top", "version"]),
            ],
            bare_ok: false,
            after: None,
        },
        args,
    )
}

pub(super) fn kubectl(args: &[WordInfo]) -> Check {
    tool(
        &Tool {
            name: "kubectl",
            flags: &["--insecure-skip-tls-verify"],
            values: &[
                "-n",
                "--namespace",
                "--context",
                "--kubeconfig",
                "--cluster",
                "--user",
                "-s",
                "--server",
                "--request-timeout",
            ],
            subs: &[
                ("get", &[]),
                ("describe", &[]),
                ("logs", &[]),
                ("top", &[]),
                ("explain", &[]),
                ("version", &[]),
                ("api-resources", &[]),
                ("api-versions", &[]),
                ("events", &[]),
                (
                    "config",
                    &[
                        "view",
                        "get-contexts",
                        "current-context",
                        "get-clusters",
                        "get-users",
                    ],
                ),
                ("auth", &["can-i", "whoami"]),
                ("rollout", &["status", "history"]),
            ],
            bare_ok: false,
            after: None,
        },
        args,
    )
}
