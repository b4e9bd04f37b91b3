//! What the `targets` of `ssh_fanout` stand for: named hosts, globs over their names,
//! `@group`s and the caller's session ids, expanded in the order given, each host once.
//! Anything that names nothing is an error before any host is reached.

use std::collections::{BTreeMap, HashSet};

use crate::error::Error;
use crate::wildcard::wildcard_match;

/// One host to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A named host of the config file.
    Host(String),
    /// A session the caller opened.
    Session(String),
}

impl Target {
    /// The name the result shows: the named host, or the session id given.
    pub fn label(&self) -> &str {
        match self {
            Target::Host(h) | Target::Session(h) => h,
        }
    }
}

/// Longest target: longer names no host, pattern or session id.
const MAX_TARGET: usize = 255;

/// Expands `targets` against the named hosts, the flattened `groups` and the caller's
/// sessions (`is_session`); at most `max` hosts.
pub fn expand<V>(
    targets: &[String],
    hosts: &BTreeMap<String, V>,
    groups: &BTreeMap<String, Vec<String>>,
    is_session: impl Fn(&str) -> bool,
    max: usize,
) -> Result<Vec<Target>, Error> {
    let bad = |msg: String| Error::InvalidArgument(msg);
    if targets.is_empty() {
        return Err(bad(
            "targets is empty; name hosts, web* patterns or @groups".into(),
        ));
    }
    let mut out: Vec<Target> = Vec::new();
    let add = |t: Target, out: &mut Vec<Target>| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    // Each distinct target is looked at once, and there may be no more of them than
    // hosts: a list of a million patterns must not hold up the server.
    let mut seen: HashSet<&str> = HashSet::new();
    for raw in targets {
        let t = raw.trim();
        if t.is_empty() {
            return Err(bad("a target is empty".into()));
        }
        if t.chars().count() > MAX_TARGET {
            return Err(bad(format!(
                "a target is longer than {MAX_TARGET} characters; name hosts, web* patterns or @groups"
            )));
        }
        if !seen.insert(t) {
            continue;
        }
        if seen.len() > max {
            return Err(bad(format!(
                "more than {max} distinct targets; web* patterns and @groups stand for many hosts"
            )));
        }
        if let Some(g) = t.strip_prefix('@') {
            let members = groups.get(g).ok_or_else(|| {
                let known: Vec<&str> = groups.keys().map(String::as_str).collect();
                bad(format!(
                    "there is no group {g:?}; the groups are: {}",
                    if known.is_empty() {
                        "(none)".into()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            for m in members {
                add(Target::Host(m.clone()), &mut out);
            }
        } else if t.contains(['*', '?']) {
            let mut matched = false;
            for name in hosts.keys().filter(|n| wildcard_match(t, n)) {
                matched = true;
                add(Target::Host(name.clone()), &mut out);
            }
            if !matched {
                return Err(bad(format!("the pattern {t:?} matches no named host")));
            }
        } else if hosts.contains_key(t) {
            add(Target::Host(t.to_string()), &mut out);
        } else if is_session(t) {
            add(Target::Session(t.to_string()), &mut out);
        } else {
            return Err(bad(format!(
                "unknown target {t:?}: not a named host, @group, pattern or session id of yours (ssh_list_sessions lists them)"
            )));
        }
        if out.len() > max {
            return Err(bad(format!(
                "the targets name more than {max} hosts, the most one call may reach; split them"
            )));
        }
    }
    Ok(out)
}

/// Drops a target that would run on the same session as an earlier one: a named host
/// whose open session (`session_of`) is also named by its id runs once, not twice.
pub fn once_per_session(
    targets: Vec<Target>,
    session_of: impl Fn(&str) -> Option<String>,
) -> Vec<Target> {
    let mut seen: Vec<String> = Vec::new();
    targets
        .into_iter()
        .filter(|t| {
            let session = match t {
                Target::Session(id) => Some(id.clone()),
                Target::Host(name) => session_of(name),
            };
            match session {
                Some(s) if seen.contains(&s) => false,
                Some(s) => {
                    seen.push(s);
                    true
                }
                None => true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> BTreeMap<String, ()> {
        ["web01", "web02", "web10", "db1"]
            .iter()
            .map(|h| (h.to_string(), ()))
            .collect()
    }

    fn groups() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("db".to_string(), vec!["db1".to_string()])])
    }

    fn run(targets: &[&str], max: usize) -> Result<Vec<Target>, Error> {
        let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        expand(&t, &hosts(), &groups(), |s| s == "abc123", max)
    }

    fn labels(t: &[Target]) -> Vec<&str> {
        t.iter().map(Target::label).collect()
    }

    #[test]
    fn targets_should_expand_in_order_each_host_once() {
        let t = run(&["@db", "web0*", "web01", "abc123", "db1"], 256).unwrap();
        assert_eq!(labels(&t), ["db1", "web01", "web02", "abc123"]);
        assert_eq!(t[3], Target::Session("abc123".into()));
        assert_eq!(t[0], Target::Host("db1".into()));
    }

    #[test]
    fn names_that_name_nothing_should_be_errors() {
        for bad in [&["nope"][..], &["@nope"], &["x*"], &[""], &[]] {
            let e = run(bad, 256).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad:?}: {e}");
        }
        let e = run(&["@nope"], 256).unwrap_err().to_string();
        assert!(e.contains("db"), "the known groups are listed: {e}");
        // A session id another caller owns is unknown here.
        assert!(run(&["def456"], 256).is_err());
    }

    #[test]
    fn a_host_and_its_session_id_should_run_once() {
        let session_of = |h: &str| (h == "db1").then(|| "abc123".to_string());
        let t = run(&["db1", "web01", "abc123"], 256).unwrap();
        assert_eq!(labels(&once_per_session(t, session_of)), ["db1", "web01"]);
        let t = run(&["abc123", "@db", "web02"], 256).unwrap();
        assert_eq!(
            labels(&once_per_session(t, session_of)),
            ["abc123", "web02"]
        );
    }

    #[test]
    fn huge_target_lists_should_be_cheap_or_refused() {
        // Repeats are looked at once.
        let t = run(&vec!["web*"; 100_000], 3).unwrap();
        assert_eq!(labels(&t), ["web01", "web02", "web10"]);
        // More distinct targets than hosts allowed, even when they overlap.
        let e = run(&["web*", "web0*", "web01", "web02"], 3).unwrap_err();
        assert!(e.to_string().contains("distinct"), "{e}");
        // A long target is refused without being repeated back.
        let long = format!("web*{}", "x".repeat(100_000));
        let e = run(&[&long], 256).unwrap_err().to_string();
        assert!(e.len() < 300 && e.contains("longer"), "{}", &e[..300]);
    }

    #[test]
    fn more_hosts_than_the_maximum_should_be_refused() {
        assert_eq!(run(&["web*"], 3).unwrap().len(), 3);
        let e = run(&["web*", "db1"], 3).unwrap_err();
        // An argument to fix, not a wait for running work.
        let text = crate::mcp::errors::tool_error("Failed to fan out", &e);
        assert!(
            text.contains("split them") && text.contains("fix the argument"),
            "{text}"
        );
    }
}
