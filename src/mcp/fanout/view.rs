//! The text view of an `ssh_fanout` result, the way an operator reads `dshbak -c`: the
//! summary, each group under its host list with numbered runs compressed (`web[01-12]`),
//! then the errors. The structured result keeps plain host names.

use super::types::FanoutResult;

/// A stretch of neighbouring host names.
enum Segment<'a> {
    /// A name without a trailing number.
    Plain(&'a str),
    /// Names `prefix` + number, as runs of (first digits, last digits, last number).
    Numbered {
        prefix: &'a str,
        runs: Vec<(&'a str, &'a str, u64)>,
    },
}

/// Host names with numbered runs compressed, in order: `web01, web02, web03, db1` reads
/// `web[01-03],db1`. Only neighbours merge, so the order stays; `web9` and `web10` merge,
/// `web09` and `web10` too, `web1` and `web01` do not.
pub fn compress(hosts: &[String]) -> String {
    let mut segments: Vec<Segment> = Vec::new();
    for h in hosts {
        let digits = h.len() - h.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, num) = h.split_at(h.len() - digits);
        let Some(n) = num.parse::<u64>().ok().filter(|_| !num.is_empty()) else {
            segments.push(Segment::Plain(h));
            continue;
        };
        let same_width = |first: &str| {
            first.len() == num.len() || !(first.starts_with('0') || num.starts_with('0'))
        };
        if let Some(Segment::Numbered { prefix: p, runs }) = segments.last_mut()
            && *p == prefix
            && runs.first().is_some_and(|r| same_width(r.0))
        {
            match runs.last_mut() {
                Some(last) if last.2.checked_add(1) == Some(n) => {
                    last.1 = num;
                    last.2 = n;
                }
                _ => runs.push((num, num, n)),
            }
            continue;
        }
        segments.push(Segment::Numbered {
            prefix,
            runs: vec![(num, num, n)],
        });
    }
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match s {
            Segment::Plain(h) => h.to_string(),
            Segment::Numbered { prefix, runs } => match runs.as_slice() {
                [(a, b, _)] if a == b => format!("{prefix}{a}"),
                _ => {
                    let r: Vec<String> = runs
                        .iter()
                        .map(|(a, b, _)| {
                            if a == b {
                                a.to_string()
                            } else {
                                format!("{a}-{b}")
                            }
                        })
                        .collect();
                    format!("{prefix}[{}]", r.join(","))
                }
            },
        })
        .collect();
    parts.join(",")
}

/// The text view of a result.
pub fn render(r: &FanoutResult) -> String {
    let s = &r.summary;
    let mut out = format!(
        "{} hosts: {} ok, {} failed, {} timed out, {} errors, {} skipped ({} ms)\n",
        s.hosts, s.ok, s.failed, s.timed_out, s.errors, s.skipped, r.duration_ms
    );
    if let Some(note) = &r.note {
        out.push_str(&format!("Note: {note}\n"));
    }
    for g in &r.groups {
        let status = match (&g.exit_code, &g.exit_signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no exit status".into(),
        };
        let mut tags = String::new();
        if g.timed_out {
            tags.push_str(", timed out");
        }
        if g.truncated {
            tags.push_str(", truncated");
        }
        out.push_str(&format!(
            "== {} ({} hosts): {status}{tags}\n",
            compress(&g.hosts),
            g.hosts.len()
        ));
        for (name, text) in [("stdout", &g.stdout), ("stderr", &g.stderr)] {
            if !text.is_empty() {
                out.push_str(&format!("-- {name}:\n{text}"));
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    if !r.errors.is_empty() {
        out.push_str("== errors (the command did not run):\n");
        for e in &r.errors {
            out.push_str(&format!("{} [{}]: {}\n", e.host, e.stage.as_str(), e.error));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(hosts: &[&str]) -> String {
        compress(&hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn numbered_runs_should_compress_and_keep_their_order() {
        let web: Vec<String> = (1..=12).map(|i| format!("web{i:02}")).collect();
        assert_eq!(compress(&web), "web[01-12]");
        assert_eq!(c(&["web01", "web02", "web04", "db1"]), "web[01-02,04],db1");
        assert_eq!(c(&["web9", "web10", "web11"]), "web[9-11]");
        assert_eq!(c(&["web09", "web10"]), "web[09-10]");
        assert_eq!(c(&["web1", "web01"]), "web1,web01");
        assert_eq!(c(&["a", "b1", "a"]), "a,b1,a");
        assert_eq!(c(&["db1", "web1", "db2"]), "db1,web1,db2");
        assert_eq!(c(&["x99999999999999999999999"]), "x99999999999999999999999");
        assert_eq!(c(&[]), "");
    }
}
