//! Secrets the server types: `secret: "sudo"` in a shell and `ssh_execute {sudo: true}`,
//! from a named host's `sudo_password_env` or the login password; the password never
//! reaches a result, the trace log or the audit log.

use std::process::Command;
use std::sync::Once;

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::shell::{open, run};
use crate::sshd::{PASSWORD, Sshd, USER, user};

/// Lets the test user run anything with sudo, giving its password.
pub(crate) fn sudoer() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        user();
        assert!(
            std::path::Path::new("/usr/bin/sudo").exists(),
            "sudo not found: install it with `apt-get install -y sudo` (scripts/test does)"
        );
        std::fs::write(
            format!("/etc/sudoers.d/{USER}"),
            format!("{USER} ALL=(ALL) ALL\n"),
        )
        .unwrap();
        let ok = Command::new("chmod")
            .args(["0440", &format!("/etc/sudoers.d/{USER}")])
            .status()
            .unwrap();
        assert!(ok.success());
    });
}

/// A server with the named hosts `box` (right sudo password) and `wrong` (a wrong one),
/// an audit log, and trace logs.
pub(crate) async fn server(sshd: &Sshd, dir: &std::path::Path) -> Server {
    let config = dir.join("ssh-mcp.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\nfile = \"{audit}\"\n\n\
             [hosts.box]\naddress = \"{addr}\"\nuser = \"{USER}\"\nidentity_file = \"{key}\"\nsudo_password_env = \"SSHMCP_SUDO_PW\"\n\n\
             [hosts.wrong]\naddress = \"{addr}\"\nuser = \"{USER}\"\nidentity_file = \"{key}\"\nsudo_password_env = \"SSHMCP_WRONG_PW\"\n\n\
             [hosts.nosudo]\naddress = \"{addr}\"\nuser = \"{USER}\"\nidentity_file = \"{key}\"\n",
            audit = dir.join("audit.jsonl").display(),
            addr = sshd.address(),
            key = user().key.display(),
        ),
    )
    .unwrap();
    Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), config.display().to_string()],
            env: vec![
                ("RUST_LOG".into(), "trace".into()),
                ("SSHMCP_SUDO_PW".into(), PASSWORD.into()),
                ("SSHMCP_WRONG_PW".into(), "not-the-password-3141".into()),
            ],
            ..Default::default()
        },
    )
    .await
}

/// Connects to the named host `address` and runs `id -u` with `sudo: true`, which must
/// fail; returns the session id and the error.
async fn sudo_refused(srv: &Server, address: &str) -> (String, String) {
    let v = srv.ok("ssh_connect", json!({"address": address})).await;
    let s = v["session_id"].as_str().unwrap().to_string();
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "id -u", "sudo": true}),
        )
        .await;
    (s, e)
}

#[tokio::test]
async fn a_shell_should_answer_sudo_with_the_secret_and_never_show_it() {
    sudoer();
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let srv = server(&sshd, dir.path()).await;
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap();
    let sh = open(&srv, s, json!({})).await;
    let mut seen = Vec::new();
    seen.push(run(&srv, &sh, "sudo -k; sudo id -u", "(?i)password").await);
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "secret": "sudo", "wait_for": r"(?m)^0\n.*\$ $"}),
        )
        .await;
    assert_eq!(v["matched"], true, "{v}");
    seen.push(v);
    // A program that echoes the secret shows it redacted.
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "read -r x; echo \"got:$x:end\"", "keys": ["enter"]}),
        )
        .await;
    assert_eq!(v["exited"], false);
    let v = srv
        .ok(
            "ssh_shell_send",
            json!({"shell_id": sh, "secret": "sudo", "wait_for": "got:.*:end"}),
        )
        .await;
    assert!(
        v["output"].as_str().unwrap().contains("got:<redacted>:end"),
        "{v}"
    );
    seen.push(v);
    for view in ["screen", "scrollback"] {
        seen.push(
            srv.ok("ssh_shell_read", json!({"shell_id": sh, "view": view}))
                .await,
        );
    }
    seen.push(srv.ok("ssh_list_sessions", json!({})).await);
    for v in &seen {
        assert!(!v.to_string().contains(PASSWORD), "{v}");
    }
    srv.ok("ssh_shell_close", json!({"shell_id": sh})).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains(r#""secret":"sudo""#), "{audit}");
    assert!(!audit.contains(PASSWORD));
    assert!(srv.log().contains("TRACE") || srv.log().contains("DEBUG"));
    assert!(!srv.log().contains(PASSWORD), "the password is in the log");
}

#[tokio::test]
async fn execute_with_sudo_should_run_as_root_or_say_why_not() {
    sudoer();
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let srv = server(&sshd, dir.path()).await;
    // The named host's sudo password.
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "id -u; cat; echo \"$GREETING\"", "sudo": true,
                   "stdin": "from stdin\n", "env": {"GREETING": "hi"}}),
        )
        .await;
    assert_eq!(v["stdout"], "0\nfrom stdin\nhi\n", "{v}");
    assert_eq!(v["exit_code"], 0);
    // Output that shows the password, on either stream, shows <redacted>.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "sudo": true, "env": {"P": PASSWORD},
                   "command": "printf '%s\\n' \"$P\"; printf 'x%sy' \"$P\" >&2"}),
        )
        .await;
    assert_eq!(v["stdout"], "<redacted>\n", "{v}");
    assert_eq!(v["stderr"], "x<redacted>y", "{v}");
    // A job under sudo is listed with the command as given, not the wrapper around it.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 0.3; id -u", "sudo": true, "background": true}),
        )
        .await;
    let job = v["job_id"].as_str().unwrap().to_string();
    let listed = srv.ok("ssh_list_sessions", json!({})).await.to_string();
    assert!(
        listed.contains(r#""command":"sleep 0.3; id -u""#),
        "{listed}"
    );
    assert!(!listed.contains("ssh-mcp-sudo-"), "{listed}");
    let v = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 10}))
        .await;
    assert_eq!(v["stdout"], "0\n", "{v}");
    // The login password, for a session opened with one.
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    let p = v["session_id"].as_str().unwrap();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": p, "command": "id -un", "sudo": true}),
        )
        .await;
    assert_eq!(v["stdout"], "root\n", "{v}");
    // A wrong one.
    let (_, e) = sudo_refused(&srv, "wrong").await;
    assert!(e.contains("sudo refused the password"), "{e}");
    assert!(!e.contains("not-the-password"), "{e}");
    // None at all: a key login.
    let (k, e) = sudo_refused(&srv, "nosudo").await;
    assert!(e.contains("sudo_password_env"), "{e}");
    let sh = open(&srv, &k, json!({})).await;
    let e = srv
        .err("ssh_shell_send", json!({"shell_id": sh, "secret": "sudo"}))
        .await;
    assert!(e.contains("sudo_password_env"), "{e}");
    assert!(!srv.log().contains(PASSWORD));
}
