//! `[groups]`: named lists of named hosts for `ssh_fanout` (`@web`). A member is a named
//! host, or another group (`@name`, or a plain name that is no host). Groups are checked
//! and flattened when the config is loaded: an unknown member or a cycle is an error then,
//! never at a call.

use std::collections::BTreeMap;

use crate::config::file::HostEntry;

/// Each group as the named hosts it stands for, in the order its members name them, each
/// host once. The error names the group, and the member or the cycle at fault.
pub fn flatten(
    groups: &BTreeMap<String, Vec<String>>,
    hosts: &BTreeMap<String, HostEntry>,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut flat = BTreeMap::new();
    for name in groups.keys() {
        let mut out = Vec::new();
        let mut path = Vec::new();
        expand(name, groups, hosts, &mut path, &mut out)?;
        flat.insert(name.clone(), out);
    }
    Ok(flat)
}

/// Appends the hosts of group `name` to `out`; `path` holds the groups being expanded, to
/// find cycles.
fn expand(
    name: &str,
    groups: &BTreeMap<String, Vec<String>>,
    hosts: &BTreeMap<String, HostEntry>,
    path: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    if path.iter().any(|g| g == name) {
        path.push(name.to_string());
        return Err(format!(
            "groups: the groups contain each other: {}",
            path.join(" -> ")
        ));
    }
    let Some(members) = groups.get(name) else {
        return Err(format!("groups: there is no group {name:?}"));
    };
    if members.is_empty() {
        return Err(format!("groups.{name}: a group needs at least one member"));
    }
    path.push(name.to_string());
    for member in members {
        let member = member.trim();
        let (group, host) = match member.strip_prefix('@') {
            Some(g) => (Some(g), None),
            None if hosts.contains_key(member) => (None, Some(member)),
            None if groups.contains_key(member) => (Some(member), None),
            None => (None, None),
        };
        match (group, host) {
            (_, Some(h)) => {
                if !out.iter().any(|o| o == h) {
                    out.push(h.to_string());
                }
            }
            (Some(g), None) if groups.contains_key(g) => expand(g, groups, hosts, path, out)?,
            _ => {
                return Err(format!(
                    "groups.{name}: {member:?} is neither a named host ([hosts.{member}]) nor a group"
                ));
            }
        }
    }
    path.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> BTreeMap<String, HostEntry> {
        names
            .iter()
            .map(|n| (n.to_string(), HostEntry::default()))
            .collect()
    }

    fn groups(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(g, m)| (g.to_string(), m.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn groups_should_flatten_in_member_order_each_host_once() {
        let h = hosts(&["web1", "web2", "db1"]);
        let g = groups(&[
            ("web", &["web2", "web1"]),
            ("all", &["@web", "db1", "web1"]),
            ("again", &["all"]),
        ]);
        let flat = flatten(&g, &h).unwrap();
        assert_eq!(flat["web"], ["web2", "web1"]);
        assert_eq!(flat["all"], ["web2", "web1", "db1"]);
        assert_eq!(flat["again"], ["web2", "web1", "db1"]);
    }

    #[test]
    fn unknown_members_should_be_named() {
        let h = hosts(&["web1"]);
        let e = flatten(&groups(&[("web", &["web1", "web9"])]), &h).unwrap_err();
        assert!(e.contains("groups.web") && e.contains("web9"), "{e}");
        let e = flatten(&groups(&[("web", &["@nope"])]), &h).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = flatten(&groups(&[("web", &[])]), &h).unwrap_err();
        assert!(e.contains("at least one"), "{e}");
    }

    #[test]
    fn cycles_should_be_errors_that_show_the_cycle() {
        let h = hosts(&["web1"]);
        let g = groups(&[("a", &["web1", "@b"]), ("b", &["@c"]), ("c", &["a"])]);
        let e = flatten(&g, &h).unwrap_err();
        assert!(e.contains("a -> b -> c -> a"), "{e}");
        let e = flatten(&groups(&[("self", &["@self"])]), &h).unwrap_err();
        assert!(e.contains("self -> self"), "{e}");
    }
}
