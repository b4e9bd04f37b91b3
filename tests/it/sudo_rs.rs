//! `sudo: true` and `secret: "sudo"` against sudo-rs, whose prompt and messages differ from
//! sudo's. sudo-rs lives in `/opt/sudo-rs/bin` (`scripts/test` builds it there from
//! crates.io) beside the system's sudo; an sshd of its own puts it first in its sessions'
//! PATH, and each test checks that the sudo it drives really is sudo-rs.

use std::io::Write;

use serde_json::{Value, json};

use crate::harness::Server;
use crate::shell::{open, run};
use crate::shell_sudo::{server, sudoer};
use crate::sshd::{PASSWORD, Sshd};

/// Where `scripts/test` installs sudo-rs (setuid root).
const BIN: &str = "/opt/sudo-rs/bin";

/// An sshd whose sessions find sudo-rs first, or `None` (after saying so) where it is not
/// installed; under `CI` that fails the test instead.
fn sshd() -> Option<Sshd> {
    if !std::path::Path::new(&format!("{BIN}/sudo")).exists() {
        let why = format!("{BIN}/sudo is missing (scripts/test installs it)");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        // Past the test harness's capture of `eprintln!`, so that the skip shows.
        let _ = writeln!(std::io::stderr(), "SKIPPED sudo-rs: {why}");
        return None;
    }
    sudoer();
    Some(
        Sshd::builder()
            .config(format!("SetEnv PATH={BIN}:/usr/local/bin:/usr/bin:/bin"))
            .start(),
    )
}

/// Fails unless `out` is sudo-rs's `--version` line.
fn assert_sudo_rs(out: &Value) {
    let text = out["stdout"].as_str().or(out["output"].as_str()).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("sudo-rs ")),
        "not sudo-rs: {out}"
    );
}

#[tokio::test]
async fn execute_with_sudo_should_run_as_root_under_sudo_rs_or_say_why_not() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let srv = server(&sshd, dir.path()).await;
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap();
    let mut seen = Vec::new();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sudo --version"}),
        )
        .await;
    assert_sudo_rs(&v);
    // The command's parent is the sudo that ran it: sudo-rs, not the system's.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "sudo": true, "stdin": "from stdin\n", "env": {"GREETING": "hi"},
                   "command": "readlink /proc/$PPID/exe; id -u; cat; echo \"$GREETING\""}),
        )
        .await;
    assert_eq!(
        v["stdout"],
        format!("{BIN}/sudo\n0\nfrom stdin\nhi\n"),
        "{v}"
    );
    assert_eq!(v["exit_code"], 0, "{v}");
    seen.push(v);
    // Twice in a row: the first run's credentials do not change the second's path.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "id -u", "sudo": true}),
        )
        .await;
    assert_eq!(v["stdout"], "0\n", "{v}");
    seen.push(v);
    // A wrong password.
    let v = srv.ok("ssh_connect", json!({"address": "wrong"})).await;
    let w = v["session_id"].as_str().unwrap();
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": w, "command": "id -u", "sudo": true}),
        )
        .await;
    assert!(e.contains("sudo refused the password"), "{e}");
    assert!(!e.contains("not-the-password"), "{e}");
    assert!(!e.contains("ssh-mcp-sudo-"), "{e}");
    seen.push(json!(e));
    // Both at once, with ssh_fanout.
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["box", "wrong"], "command": "id -u", "sudo": true}),
        )
        .await;
    assert_eq!(v["groups"][0]["hosts"], json!(["box"]), "{v}");
    assert_eq!(v["groups"][0]["stdout"], "0\n", "{v}");
    assert_eq!(v["errors"][0]["host"], "wrong", "{v}");
    let e = v["errors"][0]["error"].as_str().unwrap();
    assert!(e.contains("sudo refused the password"), "{v}");
    seen.push(v);
    for v in &seen {
        assert!(!v.to_string().contains(PASSWORD), "{v}");
    }
    no_password_in_logs(&srv, dir.path());
}

#[tokio::test]
async fn a_shell_should_answer_the_sudo_rs_prompt_with_the_secret() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let srv = server(&sshd, dir.path()).await;
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap();
    let sh = open(&srv, s, json!({})).await;
    // A login shell reads /etc/profile, which sets PATH anew.
    let v = run(
        &srv,
        &sh,
        &format!("export PATH={BIN}:$PATH; sudo --version"),
        r"(?m)^sudo-rs \d",
    )
    .await;
    assert_sudo_rs(&v);
    let mut seen = Vec::new();
    // sudo-rs asks `[sudo: authenticate] Password: `.
    seen.push(run(&srv, &sh, "sudo -k; sudo id -u", "(?i)password").await);
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "secret": "sudo", "wait_for": r"(?m)^0\r?\n"}),
        )
        .await;
    assert_eq!(v["matched"], true, "{v}");
    seen.push(v);
    for view in ["screen", "scrollback"] {
        seen.push(
            srv.ok("ssh_shell_read", json!({"shell_id": sh, "view": view}))
                .await,
        );
    }
    for v in &seen {
        assert!(!v.to_string().contains(PASSWORD), "{v}");
    }
    srv.ok("ssh_shell_close", json!({"shell_id": sh})).await;
    no_password_in_logs(&srv, dir.path());
}

/// Neither the trace log nor the audit log holds the password.
fn no_password_in_logs(srv: &Server, dir: &std::path::Path) {
    assert!(!srv.log().contains(PASSWORD), "the password is in the log");
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(!audit.contains(PASSWORD), "{audit}");
}
