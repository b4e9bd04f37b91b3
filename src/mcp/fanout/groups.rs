//! How `ssh_fanout` folds many hosts' results into what an operator reads: hosts whose
//! command ended the same way with the same output form one group, largest first; the
//! result is kept under a size bound; the text view compresses numbered host runs
//! (`web[01-12]`).

use std::collections::HashMap;

use super::types::{FanoutResult, Group, HostError, Stage, Summary};

/// The most bytes the structured result may take.
pub const RESULT_LIMIT: usize = 64 * 1024;
/// Error texts are cut to this many characters when the result is still too large.
const SHORT_ERROR: usize = 160;

/// How one host's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran (whatever its exit status).
    Ran(Ran),
    /// The command did not run.
    Error { stage: Stage, error: String },
    /// Not started after a `fail_fast` stop (or a cancel).
    Skipped,
}

/// What a command that ran left.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ran {
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    /// SHA-256 of all of both streams, kept or not.
    pub digest: [u8; 32],
    /// The output alone was larger than any result may be: it is left out.
    pub left_out: bool,
}

impl Outcome {
    /// Whether this host stops a `fail_fast` call: it failed, timed out or errored.
    pub fn is_failure(&self) -> bool {
        match self {
            Outcome::Ran(r) => r.timed_out || r.exit_code != Some(0),
            Outcome::Error { .. } => true,
            Outcome::Skipped => false,
        }
    }
}

/// What makes two hosts' results the same: exit code, signal, timed out, stdout, stderr
/// (as shown, and all of it as sent).
type Key = (Option<i64>, Option<String>, bool, String, String, [u8; 32]);

/// The result of a call from each host's outcome, in target order, kept under `limit`
/// bytes of JSON.
pub fn fold(outcomes: Vec<(String, Outcome)>, duration_ms: u64, limit: usize) -> FanoutResult {
    let mut summary = Summary {
        hosts: outcomes.len(),
        ..Default::default()
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut errors = Vec::new();
    let mut left_out = 0;
    for (host, outcome) in outcomes {
        match outcome {
            Outcome::Ran(r) => {
                match (r.timed_out, r.exit_code) {
                    (true, _) => summary.timed_out += 1,
                    (false, Some(0)) => summary.ok += 1,
                    _ => summary.failed += 1,
                }
                let key = (
                    r.exit_code,
                    r.exit_signal.clone(),
                    r.timed_out,
                    r.stdout,
                    r.stderr,
                    r.digest,
                );
                match index.get(&key) {
                    Some(&i) => {
                        if let Some(g) = groups.get_mut(i) {
                            g.hosts.push(host);
                            g.truncated |= r.truncated;
                        }
                    }
                    None => {
                        left_out += usize::from(r.left_out);
                        groups.push(Group {
                            hosts: vec![host],
                            exit_code: key.0,
                            exit_signal: key.1.clone(),
                            stdout: key.3.clone(),
                            stderr: key.4.clone(),
                            truncated: r.truncated,
                            timed_out: key.2,
                        });
                        index.insert(key, groups.len() - 1);
                    }
                }
            }
            Outcome::Error { stage, error } => {
                summary.errors += 1;
                errors.push(HostError { host, stage, error });
            }
            Outcome::Skipped => summary.skipped += 1,
        }
    }
    // Largest first; among equals, the one whose first host came first (a stable sort).
    groups.sort_by_key(|g| std::cmp::Reverse(g.hosts.len()));
    let mut result = FanoutResult {
        summary,
        groups,
        errors,
        duration_ms,
        note: None,
    };
    bound(&mut result, limit);
    if left_out > 0 {
        let too_large = format!(
            "the output of {left_out} group(s) is too large for any result and is left out; filter it with head, tail or grep"
        );
        result.note = Some(match result.note.take() {
            Some(n) => format!("{too_large}; {n}"),
            None => too_large,
        });
    }
    result
}

/// Counts the bytes written to it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes of `v` as JSON, counted without holding them.
pub fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// Keeps the result under `limit` bytes: the smallest groups lose their output (hosts and
/// exit status stay), then, if need be, error texts are shortened; the note says so.
fn bound(result: &mut FanoutResult, limit: usize) {
    // Room for the note itself.
    let limit = limit.saturating_sub(300);
    let mut size = json_len(result);
    let mut summarised = 0;
    for g in result.groups.iter_mut().rev() {
        if size <= limit {
            break;
        }
        if g.stdout.is_empty() && g.stderr.is_empty() {
            continue;
        }
        let before = json_len(g);
        g.stdout.clear();
        g.stderr.clear();
        g.truncated = true;
        size = size.saturating_sub(before - json_len(g).min(before));
        summarised += 1;
    }
    // Shorter and shorter, down to nothing: a text's JSON may take 6 bytes a character.
    let mut shortened = false;
    let mut keep = SHORT_ERROR;
    while size > limit && !result.errors.is_empty() {
        for e in &mut result.errors {
            if e.error.chars().count() > keep {
                e.error = e.error.chars().take(keep).collect::<String>() + "…";
                shortened = true;
            }
        }
        size = json_len(result);
        if keep == 0 {
            break;
        }
        keep /= 2;
    }
    let mut notes = Vec::new();
    if summarised > 0 {
        notes.push(format!(
            "the output of the {summarised} smallest group(s) is left out to keep this result under {} KiB; run the command on those hosts alone to see it",
            RESULT_LIMIT / 1024
        ));
    }
    if shortened {
        notes.push("error texts are shortened".to_string());
    }
    if !notes.is_empty() {
        result.note = Some(notes.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(code: i64, out: &str) -> Outcome {
        Outcome::Ran(Ran {
            exit_code: Some(code),
            stdout: out.into(),
            ..Default::default()
        })
    }

    fn hosts(n: usize, f: impl Fn(usize) -> Outcome) -> Vec<(String, Outcome)> {
        (1..=n).map(|i| (format!("web{i:02}"), f(i))).collect()
    }

    #[test]
    fn identical_results_should_form_one_group() {
        let r = fold(hosts(40, |_| ran(0, "same\n")), 5, RESULT_LIMIT);
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0].hosts.len(), 40);
        assert_eq!(r.groups[0].hosts[0], "web01");
        assert_eq!(r.summary.ok, 40);
        assert_eq!(r.summary.hosts, 40);
        let r = fold(hosts(40, |i| ran(0, &format!("{i}\n"))), 5, RESULT_LIMIT);
        assert_eq!(r.groups.len(), 40);
    }

    #[test]
    fn groups_should_be_largest_first_with_hosts_in_order() {
        let r = fold(
            hosts(7, |i| match i {
                1 => ran(2, "x"),
                2 | 4 | 6 => ran(1, "x"),
                3 => Outcome::Ran(Ran {
                    exit_signal: Some("KILL".into()),
                    timed_out: true,
                    ..Default::default()
                }),
                5 => Outcome::Error {
                    stage: Stage::Auth,
                    error: "no".into(),
                },
                _ => Outcome::Skipped,
            }),
            5,
            RESULT_LIMIT,
        );
        let hosts: Vec<Vec<&str>> = r
            .groups
            .iter()
            .map(|g| g.hosts.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            hosts,
            [
                vec!["web02", "web04", "web06"],
                vec!["web01"],
                vec!["web03"]
            ]
        );
        assert!(r.groups[2].timed_out);
        let s = &r.summary;
        assert_eq!(
            (s.hosts, s.ok, s.failed, s.timed_out, s.errors, s.skipped),
            (7, 0, 4, 1, 1, 1)
        );
        assert_eq!(r.errors[0].host, "web05");
        assert!(r.note.is_none());
    }

    #[test]
    fn large_results_should_stay_under_the_limit_and_say_so() {
        let big = "y".repeat(4000);
        // 30 distinct outputs of 4000 bytes: about 120 KB before the bound.
        let r = fold(
            hosts(60, |i| ran(0, &format!("{}{big}", i % 30))),
            5,
            RESULT_LIMIT,
        );
        let size = serde_json::to_vec(&r).unwrap().len();
        assert!(size <= RESULT_LIMIT, "{size}");
        let note = r.note.as_deref().unwrap();
        assert!(note.contains("smallest"), "{note}");
        assert_eq!(r.groups.len(), 30);
        // The largest groups keep their output; every host is still listed.
        assert!(!r.groups[0].stdout.is_empty());
        assert!(r.groups.last().unwrap().stdout.is_empty());
        assert!(r.groups.last().unwrap().truncated);
        assert_eq!(r.groups.iter().map(|g| g.hosts.len()).sum::<usize>(), 60);
        // Errors alone over the limit are shortened.
        let long = "e".repeat(1000);
        let r = fold(
            hosts(256, |_| Outcome::Error {
                stage: Stage::Connect,
                error: long.clone(),
            }),
            5,
            RESULT_LIMIT,
        );
        assert!(serde_json::to_vec(&r).unwrap().len() <= RESULT_LIMIT);
        assert!(r.note.unwrap().contains("shortened"));
        // Even when each character of them takes 6 bytes of JSON.
        let control = "\u{1}".repeat(1000);
        let r = fold(
            hosts(256, |_| Outcome::Error {
                stage: Stage::Connect,
                error: control.clone(),
            }),
            5,
            RESULT_LIMIT,
        );
        let size = serde_json::to_vec(&r).unwrap().len();
        assert!(size <= RESULT_LIMIT, "{size}");
    }
}
