//! Unit tests of one host's run: what its output keeps, and where its errors land.

use super::*;
use crate::mcp::fanout::groups::fold;

fn ran(limit: usize, stdout: &[&[u8]]) -> (String, Outcome) {
    let mut sink = Sink::new(limit);
    for chunk in stdout {
        sink.stdout(chunk);
    }
    let exit = Exit {
        exit_code: Some(0),
        ..Default::default()
    };
    ("h".into(), Outcome::Ran(sink.ran(exit)))
}

#[test]
fn output_no_result_could_show_should_not_be_kept() {
    // Control bytes take 6 bytes of JSON each: 16 KiB of them cannot be shown.
    let big = vec![1u8; 16 * 1024];
    let small = b"fits".to_vec();
    let r = fold(
        vec![
            ran(64 * 1024, &[&big]),
            ran(64 * 1024, &[&big]),
            ran(64 * 1024, &[&small]),
        ],
        1,
        RESULT_LIMIT,
    );
    assert_eq!(r.groups.len(), 2, "{:?}", r.summary);
    assert_eq!(r.groups[0].hosts.len(), 2);
    assert!(r.groups[0].stdout.is_empty() && r.groups[0].truncated);
    assert_eq!(r.groups[1].stdout, "fits");
    let note = r.note.unwrap_or_default();
    assert!(note.contains("too large"), "{note}");
}

#[test]
fn signal_names_from_the_server_should_not_break_the_size_bound() {
    let hosts = (0..256)
        .map(|i| {
            let exit = Exit {
                exit_signal: Some(format!("{i}{}", "X".repeat(10_000))),
                ..Default::default()
            };
            (format!("h{i}"), Outcome::Ran(Sink::new(16).ran(exit)))
        })
        .collect();
    let r = fold(hosts, 1, RESULT_LIMIT);
    let size = serde_json::to_vec(&r).unwrap().len();
    assert!(size <= RESULT_LIMIT, "{size}");
}

#[test]
fn outputs_that_differ_only_where_they_are_not_shown_should_not_group() {
    // Cut to the same head and tail, different in the middle.
    let cut = fold(
        vec![
            ran(8, &[b"head", b"AAAA", b"tail"]),
            ran(8, &[b"head", b"BBBB", b"tail"]),
        ],
        1,
        RESULT_LIMIT,
    );
    assert_eq!(cut.groups.len(), 2, "{:?}", cut.groups);
    // Different bytes that are not UTF-8 render the same (U+FFFD).
    let binary = fold(
        vec![ran(64, &[b"\xff"]), ran(64, &[b"\xfe"])],
        1,
        RESULT_LIMIT,
    );
    assert_eq!(binary.groups.len(), 2, "{:?}", binary.groups);
    // The same bytes, in other chunks, still group.
    let same = fold(
        vec![
            ran(8, &[b"headAA", b"AAtail"]),
            ran(8, &[b"head", b"AAAAtail"]),
        ],
        1,
        RESULT_LIMIT,
    );
    assert_eq!(same.groups.len(), 1, "{:?}", same.groups);
}

#[test]
fn errors_should_land_in_their_stage() {
    let refused = Error::Connect {
        addr: "h:22".into(),
        source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
    };
    assert_eq!(host_error("h", &refused, true).0, Stage::Connect);
    let unknown = Error::HostKeyUnknown {
        host: "h".into(),
        offered: "SHA256:x".into(),
    };
    let (stage, text) = host_error("web1", &unknown, true);
    assert_eq!(stage, Stage::HostKey);
    assert!(
        text.contains("ssh_connect") && text.contains("web1"),
        "{text}"
    );
    // A client that cannot confirm keys gets the error's own advice instead.
    let (stage, text) = host_error("web1", &unknown, false);
    assert_eq!(stage, Stage::HostKey);
    assert!(!text.contains("then run ssh_fanout again"), "{text}");
    let auth = Error::AuthFailed {
        user: "u".into(),
        host: "h".into(),
        tried: "publickey".into(),
        accepts: "publickey".into(),
    };
    assert_eq!(host_error("h", &auth, true).0, Stage::Auth);
    assert_eq!(
        host_error("h", &Error::Limit("x".into()), true).0,
        Stage::Limit
    );
}
