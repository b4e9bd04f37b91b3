//! Where the model may go: host names that are hosts, the allowlist judged by every
//! address a name resolves to, named hosts that keep their account, and a host-key policy
//! that the ssh client config cannot loosen.

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{self, Sshd, USER};

/// A config file in its own temp dir; returns (dir, path).
pub(crate) fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssh-mcp.toml");
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

pub(crate) async fn with_config(text: &str) -> (tempfile::TempDir, Server) {
    let (dir, cfg) = config(text);
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), cfg],
            ..Default::default()
        },
    )
    .await;
    (dir, srv)
}

fn key() -> String {
    sshd::user().key.display().to_string()
}

#[tokio::test]
async fn patterns_should_never_be_taken_for_hosts() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    for address in [
        "*",
        "*:22",
        "web*",
        "h?st",
        "!host",
        "a,b",
        "[*]:22",
        "[a]",
        "host[1]",
        "",
        "127.0.0.1/8",
    ] {
        let e = srv
            .err(
                "ssh_connect",
                json!({"address": address, "username": USER, "key_path": key()}),
            )
            .await;
        assert!(e.contains("address"), "{address:?}: {e}");
    }
    assert!(!srv.known_hosts().exists(), "nothing was recorded");
    // An ssh config whose HostName is a pattern is refused too.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, "Host evil\n  HostName *\n").unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--ssh-config".into(), file.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "evil", "username": USER, "key_path": key()}),
        )
        .await;
    assert!(e.contains("HostName"), "{e}");
    // A real host still connects and is recorded under its own name.
    srv.connect(&sshd).await;
    let recorded = std::fs::read_to_string(srv.known_hosts()).unwrap();
    assert!(
        recorded.starts_with(&format!("[127.0.0.1]:{} ", sshd.port)),
        "{recorded}"
    );
}

#[tokio::test]
async fn the_allowlist_should_judge_every_address_a_name_resolves_to() {
    let sshd = Sshd::start();
    let (_d, srv) = with_config(
        r#"
        [security]
        allowed_hosts = ["*", "!127.0.0.1", "!::1"]
        "#,
    )
    .await;
    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "localhost",
        "[::ffff:127.0.0.1]",
    ] {
        let e = srv
            .err(
                "ssh_connect",
                json!({"address": format!("{host}:{}", sshd.port), "username": USER, "key_path": key()}),
            )
            .await;
        assert!(e.contains("allowed hosts"), "{host}: {e}");
    }
    assert!(
        !sshd.log().contains("Accepted publickey"),
        "a connection got through"
    );
    // A network allows what is inside it.
    let (_d, srv) = with_config(
        r#"
        [security]
        allowed_hosts = ["127.0.0.0/8", "!127.0.0.2"]
        "#,
    )
    .await;
    let s = srv.connect(&sshd).await;
    assert_eq!(srv.exec(&s, "echo in").await["stdout"], "in\n");
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "10.255.255.1:22", "username": USER, "key_path": key()}),
        )
        .await;
    assert!(e.contains("allowed hosts"), "{e}");
}

#[tokio::test]
async fn named_hosts_should_keep_their_account() {
    let sshd = Sshd::start();
    let (_d, srv) = with_config(&format!(
        r#"
        [hosts.web1]
        address = "{addr}"
        user = "{USER}"
        identity_file = "{key}"

        [hosts.flexible]
        address = "{addr}"
        user = "{USER}"
        identity_file = "{key}"
        allow_user_override = true
        "#,
        addr = sshd.address(),
        key = key(),
    ))
    .await;
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "web1", "username": "root"}),
        )
        .await;
    assert!(e.contains("web1") && e.contains("user"), "{e}");
    assert!(
        !sshd.log().contains("for root"),
        "the operator's key was tried on root"
    );
    // Its own account, given or not, works.
    for args in [
        json!({"address": "web1"}),
        json!({"address": "web1", "username": USER}),
    ] {
        let v = srv.ok("ssh_connect", args).await;
        let s = v["session_id"].as_str().unwrap();
        assert_eq!(srv.exec(s, "id -un").await["stdout"], format!("{USER}\n"));
    }
    // Where the operator allows it, another account is tried (and fails on its own terms).
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": "flexible", "username": "nobody"}),
        )
        .await;
    assert!(!e.contains("allow_user_override"), "{e}");
}

#[tokio::test]
async fn the_ssh_config_should_not_loosen_the_host_key_policy() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(
        &file,
        format!(
            "Host box\n  HostName 127.0.0.1\n  Port {}\n  User {USER}\n  IdentityFile {}\n\
             Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n",
            sshd.port,
            key()
        ),
    )
    .unwrap();
    // Strict by the operator: the unknown host is refused despite the ssh config.
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec![
                "--ssh-config".into(),
                file.display().to_string(),
                "--host-key-policy".into(),
                "strict".into(),
            ],
            ..Default::default()
        },
    )
    .await;
    let e = srv.err("ssh_connect", json!({"address": "box"})).await;
    assert!(e.contains("unknown") || e.contains("not known"), "{e}");
    srv.stop().await;
    // accept-new by default: a changed key is refused despite the ssh config.
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--ssh-config".into(), file.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let other = sshd::keygen(dir.path(), "other_host", "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port,
        fields.next().unwrap(),
        fields.next().unwrap()
    );
    std::fs::create_dir_all(srv.known_hosts().parent().unwrap()).unwrap();
    std::fs::write(srv.known_hosts(), line).unwrap();
    let e = srv.err("ssh_connect", json!({"address": "box"})).await;
    assert!(e.contains("does not match") && e.contains("REFUSED"), "{e}");
}

#[tokio::test]
async fn command_rules_should_cover_cwd_and_env() {
    let sshd = Sshd::start();
    let (_d, srv) = with_config("[security.commands]\ndeny = [\"^rm \", \"/root\"]\n").await;
    let s = srv.connect(&sshd).await;
    let marker = format!("/tmp/ssh-mcp-env-{}", std::process::id());
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": format!("touch {marker}"), "cwd": "/root"}),
        )
        .await;
    assert!(e.contains("cwd") && e.contains("deny"), "{e}");
    for (name, value) in [
        ("LD_PRELOAD", "/tmp/x.so"),
        ("PATH", "/tmp"),
        ("BASH_ENV", "/tmp/x"),
        ("IFS", "/"),
        ("GIT_CONFIG_COUNT", "1"),
        ("PAGER", "sh"),
    ] {
        let e = srv
            .err(
                "ssh_execute",
                json!({"session_id": s, "command": format!("touch {marker}"), "env": {name: value}}),
            )
            .await;
        assert!(e.contains(name), "{name}: {e}");
    }
    assert!(!std::path::Path::new(&marker).exists());
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "printf %s \"$greeting\"", "cwd": "/tmp", "env": {"greeting": "hi"}}),
        )
        .await;
    assert_eq!(v["stdout"], "hi");
}
