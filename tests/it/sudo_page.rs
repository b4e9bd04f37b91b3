//! The sudo password typed on a one-time page: `ssh_execute {sudo: true}` and
//! `ssh_shell_send {secret: "sudo"}` on a session with no sudo password known ask the user
//! (both protocol eras); the typed password is kept with the session, scrubbed from its
//! shells, and appears in no message, result, log or audit line. And `ssh_fanout {sudo:
//! true}`, which never asks: a host without a sudo password is that host's error.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{Transport as Kind, text};
use crate::secret_client::{Setup, User};
use crate::shell_sudo::{server, sudoer};
use crate::sshd::{PASSWORD, Sshd, USER, user};

/// A session logged in with a key: no sudo password is known for it.
async fn key_session(s: &Setup, sshd: &Sshd) -> String {
    let r = s
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER,
                   "key_path": user().key.display().to_string()}),
        )
        .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    r.structured_content.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A structured result, or the test fails with its text.
fn ok(r: &rmcp::model::CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "{}", text(r));
    r.structured_content.clone().unwrap()
}

async fn sudo_typed_on_the_page(kind: Kind, modern: bool) {
    sudoer();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sshd = Sshd::start();
    let s = Setup::start(kind, modern, User::Types(PASSWORD), browser).await;
    // A file holding the password, for a shell to show.
    let file = tempfile::Builder::new()
        .prefix("ssh-mcp-sudo-page-")
        .tempfile_in("/tmp")
        .unwrap();
    std::fs::write(file.path(), format!("{PASSWORD}\nEND-OF-FILE\n")).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let cat = json!({"text": format!("cat {}", file.path().display()), "keys": ["enter"],
                     "wait_for": "(?m)^END-OF-FILE"});
    let session = key_session(&s, &sshd).await;
    // A shell open before the password is known.
    let early = ok(&s
        .call("ssh_shell_open", json!({"session_id": session}))
        .await);
    let early = early["shell_id"].as_str().unwrap().to_string();
    let mut results = Vec::new();
    let root = s
        .call(
            "ssh_execute",
            json!({"session_id": session, "command": "id -u", "sudo": true}),
        )
        .await;
    assert_eq!(ok(&root)["stdout"], "0\n", "{}", s.server_log());
    let asked = s.asker.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].2.contains("sudo password") && asked[0].2.contains(USER),
        "{}",
        asked[0].2
    );
    results.push(root);
    // Kept with the session: the next sudo call does not ask.
    let again = s
        .call(
            "ssh_execute",
            json!({"session_id": session, "command": "id -un", "sudo": true}),
        )
        .await;
    assert_eq!(ok(&again)["stdout"], "root\n");
    assert_eq!(s.asker.asked.lock().unwrap().len(), 1, "asked again");
    results.push(again);
    // Scrubbed from the shell opened before, and from one opened after.
    let late = ok(&s
        .call("ssh_shell_open", json!({"session_id": session}))
        .await);
    let late = late["shell_id"].as_str().unwrap().to_string();
    for sh in [&early, &late] {
        let mut args = cat.clone();
        args["shell_id"] = json!(sh);
        let r = s.call("ssh_shell_send", args).await;
        let v = ok(&r);
        assert!(v["output"].as_str().unwrap().contains("<redacted>"), "{v}");
        results.push(r);
    }
    // A shell's `secret: "sudo"` on another key session asks too.
    let other = key_session(&s, &sshd).await;
    let sh = ok(&s.call("ssh_shell_open", json!({"session_id": other})).await);
    let sh = sh["shell_id"].as_str().unwrap().to_string();
    let r = s
        .call(
            "ssh_shell_send",
            json!({"shell_id": sh, "text": "sudo -k; sudo id -u", "keys": ["enter"],
                   "wait_for": "(?i)password"}),
        )
        .await;
    assert_eq!(ok(&r)["matched"], true);
    let r = s
        .call(
            "ssh_shell_send",
            json!({"shell_id": sh, "secret": "sudo", "wait_for": r"(?m)^0\r?$"}),
        )
        .await;
    assert_eq!(ok(&r)["matched"], true, "{}", text(&r));
    assert_eq!(s.asker.asked.lock().unwrap().len(), 2);
    results.push(r);
    let refs: Vec<_> = results.iter().collect();
    s.assert_nowhere(PASSWORD, &refs);
    let audit = std::fs::read_to_string(s.home.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains(r#""secret":"sudo""#), "{audit}");
}

#[tokio::test]
async fn a_sudo_password_typed_on_the_page_should_run_as_root_at_2025_11_25() {
    sudo_typed_on_the_page(Kind::Stdio, false).await;
}

#[tokio::test]
async fn a_sudo_password_typed_on_the_page_should_run_as_root_at_2026_07_28() {
    sudo_typed_on_the_page(Kind::Stdio, true).await;
}

#[tokio::test]
async fn a_sudo_password_typed_on_the_page_should_run_as_root_over_http() {
    sudo_typed_on_the_page(Kind::Http, true).await;
}

#[tokio::test]
async fn a_declined_sudo_page_should_end_the_call_with_a_refusal() {
    sudoer();
    let sshd = Sshd::start();
    for modern in [false, true] {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let s = Setup::start(Kind::Stdio, modern, User::Declines, browser).await;
        let session = key_session(&s, &sshd).await;
        let r = s
            .call(
                "ssh_execute",
                json!({"session_id": session, "command": "id -u", "sudo": true}),
            )
            .await;
        assert_eq!(r.is_error, Some(true), "{}", text(&r));
        let t = text(&r);
        assert!(t.contains("REFUSED by the user"), "{t}");
        let url = s.asker.asked.lock().unwrap()[0].0.clone();
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
    }
}

#[tokio::test]
async fn fanout_with_sudo_should_run_as_root_where_a_password_is_known() {
    sudoer();
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let srv = server(&sshd, dir.path()).await;
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["box", "nosudo", "wrong"], "command": "id -u; cat",
                   "stdin": "in\n", "sudo": true}),
        )
        .await;
    assert_eq!(v["groups"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["groups"][0]["hosts"], json!(["box"]), "{v}");
    assert_eq!(v["groups"][0]["stdout"], "0\nin\n", "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{v}");
    for (e, says) in errors.iter().zip(["no sudo password", "sudo refused"]) {
        assert_eq!(e["stage"], "auth", "{v}");
        assert!(e["error"].as_str().unwrap().contains(says), "{v}");
    }
    assert_eq!(errors[0]["host"], "nosudo");
    assert_eq!(errors[1]["host"], "wrong");
    // Without sudo the same hosts run as the user.
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["box", "nosudo"], "command": "id -u"}),
        )
        .await;
    assert_ne!(v["groups"][0]["stdout"], "0\n", "{v}");
    assert!(!v.to_string().contains(PASSWORD));
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(PASSWORD));
    assert!(!srv.log().contains(PASSWORD));
}
