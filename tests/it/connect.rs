//! `ssh_connect`: every authentication method and failure, host-key policy.

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{self, Agent, PASSPHRASE, PASSWORD, Sshd, USER};

fn fingerprint_of(sshd: &Sshd) -> String {
    let path = sshd.dir.path().join("host_ed25519.pub");
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn password_auth_should_connect_and_record_an_unknown_host() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(v["authenticated"], true);
    assert_eq!(v["auth_method"], "password");
    assert_eq!(v["host_key_status"], "learned");
    assert_eq!(v["host_key_fingerprint"], fingerprint_of(&sshd));
    assert_eq!(
        v["session_id"].as_str().unwrap().len(),
        32,
        "128-bit id in hex"
    );
    assert!(v["message"].as_str().unwrap().starts_with(&format!(
        "Successfully connected to {USER}@127.0.0.1:{}",
        sshd.port
    )));
    let kh = std::fs::read_to_string(srv.known_hosts()).unwrap();
    assert_eq!(kh, sshd.known_hosts_line());
    // The second connection finds the recorded key.
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(v["host_key_status"], "known");
    assert_eq!(
        std::fs::read_to_string(srv.known_hosts()).unwrap(),
        kh,
        "no duplicate line"
    );
}

#[tokio::test]
async fn key_auth_should_work_with_plain_and_encrypted_keys() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let u = sshd::user();
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "key_path": u.key}),
        )
        .await;
    assert!(v["auth_method"].as_str().unwrap().starts_with("key "));
    srv.ok(
        "ssh_connect",
        json!({"address": sshd.address(), "username": USER, "key_path": u.encrypted_key, "passphrase": PASSPHRASE}),
    )
    .await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "key_path": u.encrypted_key}),
        )
        .await;
    assert!(e.contains("encrypted") && e.contains("passphrase"), "{e}");
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "key_path": u.encrypted_key, "passphrase": "nope"}),
        )
        .await;
    assert!(e.contains("wrong passphrase"), "{e}");
}

#[tokio::test]
async fn key_path_should_expand_tilde() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    std::fs::copy(&sshd::user().key, srv.home.path().join("mykey")).unwrap();
    srv.ok(
        "ssh_connect",
        json!({"address": sshd.address(), "username": USER, "key_path": "~/mykey"}),
    )
    .await;
}

#[tokio::test]
async fn no_credentials_should_use_the_agent() {
    let sshd = Sshd::start();
    let u = sshd::user();
    // The stranger key first: it is offered, rejected, and the next one is tried.
    let agent = Agent::start(&[&u.stranger_key, &u.rsa_key]);
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            env: vec![("SSH_AUTH_SOCK".into(), agent.socket.display().to_string())],
            ..Default::default()
        },
    )
    .await;
    let v = srv
        .ok(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert!(
        v["auth_method"]
            .as_str()
            .unwrap()
            .starts_with("agent key SHA256:"),
        "{v}"
    );
}

#[tokio::test]
async fn no_credentials_should_fall_back_to_default_identity_files() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let ssh_dir = srv.home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::copy(&sshd::user().key, ssh_dir.join("id_ed25519")).unwrap();
    // The username defaults to $USER of the server.
    let v = srv
        .ok("ssh_connect", json!({"address": sshd.address()}))
        .await;
    assert_eq!(v["auth_method"], "key ~/.ssh/id_ed25519");
}

#[tokio::test]
async fn auth_failures_should_say_what_was_tried() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "password": "wrong-password-123"}),
        )
        .await;
    assert!(
        e.starts_with("Failed to connect: authentication failed"),
        "{e}"
    );
    assert!(
        e.contains("password (rejected)") && !e.contains("wrong-password-123"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER}),
        )
        .await;
    assert!(e.contains("no agent and no default identity"), "{e}");
    let e = srv
        .err("ssh_connect", json!({"address": sshd.address(), "username": USER, "key_path": sshd::user().stranger_key}))
        .await;
    assert!(
        e.contains("(rejected)") && e.contains("server accepts: publickey, password"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": USER, "key_path": "/nonexistent/key"}),
        )
        .await;
    assert!(
        e.contains("/nonexistent/key") && e.contains("not a readable private key"),
        "{e}"
    );
    // Whatever a path that is not a key names (nothing, a directory, a file the server
    // cannot read, a text file), the answer is the same: key_path tells nothing about it.
    let answer = |e: &str, path: &str| e.replace(path, "<path>");
    let missing = answer(&e, "/nonexistent/key");
    for path in ["/tmp", "/etc/shadow", "/etc/passwd", "/etc/hostname"] {
        let e = srv
            .err(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "key_path": path}),
            )
            .await;
        assert_eq!(answer(&e, path), missing, "{path}");
    }
}

#[tokio::test]
async fn network_failures_should_be_clear_tool_errors() {
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--connect-timeout".into(), "2".into()],
            ..Default::default()
        },
    )
    .await;
    let port = sshd::free_port();
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": format!("127.0.0.1:{port}"), "username": USER, "password": "x"}),
        )
        .await;
    assert!(
        e.contains("Connection refused") && e.contains("is sshd listening on"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "no-such-host.invalid", "username": USER, "password": "x"}),
        )
        .await;
    assert!(
        e.contains("could not resolve host") || e.contains("timed out"),
        "{e}"
    );
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "host:99999", "username": USER}),
        )
        .await;
    assert!(e.contains("invalid address"), "{e}");
    // A server that accepts TCP but never speaks SSH: the call must end at the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": addr.to_string(), "username": USER, "password": "x"}),
        )
        .await;
    assert!(e.contains("timed out after 2s"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn unknown_session_ids_should_be_tool_errors() {
    let srv = Server::stdio().await;
    for tool in ["ssh_execute", "ssh_disconnect"] {
        let e = srv
            .err(
                tool,
                json!({"session_id": "0123456789abcdef", "command": "true"}),
            )
            .await;
        assert!(
            e.contains("no session with id") && e.contains("ssh_list_sessions"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_changed_host_key_should_be_refused_with_both_fingerprints() {
    let first = Sshd::start();
    let port = first.port;
    let old_fp = fingerprint_of(&first);
    let srv = Server::stdio().await;
    srv.connect(&first).await;
    drop(first);
    let second = Sshd::builder().port(port).start();
    let new_fp = fingerprint_of(&second);
    assert_ne!(old_fp, new_fp);
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": second.address(), "username": USER, "password": PASSWORD}),
        )
        .await;
    assert!(
        e.contains("does not match") && e.contains(&old_fp) && e.contains(&new_fp),
        "{e}"
    );
    assert!(e.contains("REFUSED") && e.contains("ssh-keygen -R"), "{e}");
    // Nothing was authenticated: sshd never saw a password attempt.
    assert!(
        !second.log().contains("Accepted password"),
        "{}",
        second.log()
    );
}

/// `strict`, and `ask` with a client that cannot ask the user (no elicitation), refuse.
#[tokio::test]
async fn strict_and_ask_policies_should_refuse_unknown_hosts_and_accept_known_ones() {
    let sshd = Sshd::start();
    for policy in ["strict", "ask"] {
        let kh = tempfile::NamedTempFile::new().unwrap();
        let srv = Server::with_host_keys(policy, kh.path()).await;
        let e = srv
            .err(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
            )
            .await;
        assert!(
            e.contains("is not known") && e.contains(policy),
            "{policy}: {e}"
        );
        std::fs::write(
            kh.path(),
            format!("# comment\n|garbage line\n{}", sshd.known_hosts_line()),
        )
        .unwrap();
        let v = srv
            .ok(
                "ssh_connect",
                json!({"address": sshd.address(), "username": USER, "password": PASSWORD}),
            )
            .await;
        assert_eq!(v["host_key_status"], "known", "{policy}");
    }
}
