//! Ways around the operator's promises that a hostile review found: each test states what
//! the operator was promised and tries to get around it; each failed before its fix.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
#[cfg(feature = "port_forward")]
use std::sync::atomic::Ordering;
#[cfg(feature = "port_forward")]
use std::time::Duration;

use serde_json::json;
#[cfg(feature = "port_forward")]
use tokio::net::TcpStream;

use crate::confinement::dir;
#[cfg(feature = "port_forward")]
use crate::forward_policy::victim;
use crate::harness::{Opts, Server, Transport};
use crate::reach::with_config;
use crate::sshd::{self, Sshd, USER};

/// A file on the SSH server's side (this machine) that the test user can read.
fn remote_file(tag: &str, text: &str) -> PathBuf {
    let p = PathBuf::from(format!("/tmp/ssh-mcp-attack-{tag}-{}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

/// Lines added to `/etc/hosts` for one test, taken out again on drop.
#[cfg(feature = "port_forward")]
struct HostsLines(String);

#[cfg(feature = "port_forward")]
impl HostsLines {
    /// Adds `ip name` for each address; `name` must be unique to the test.
    fn add(name: &str, ips: &[&str]) -> Self {
        let mut text = std::fs::read_to_string("/etc/hosts").unwrap();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        for ip in ips {
            text.push_str(&format!("{ip} {name}\n"));
        }
        std::fs::write("/etc/hosts", text).unwrap();
        Self(name.to_string())
    }
}

#[cfg(feature = "port_forward")]
impl Drop for HostsLines {
    fn drop(&mut self) {
        let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|l| l.split_whitespace().nth(1) != Some(self.0.as_str()))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = std::fs::write("/etc/hosts", kept);
    }
}

/// Promise: `allowed_hosts` applies to a local forward's target by its name and every
/// address it resolves to. A name with one allowed and one refused address passes, and the
/// SSH server, which resolves the name itself, goes on to the refused address when the
/// allowed one does not answer.
#[cfg(feature = "port_forward")]
#[tokio::test]
async fn forward_targets_should_be_refused_when_any_of_their_addresses_is_refused() {
    let sshd = Sshd::start();
    let (port, hits) = victim("127.0.0.1").await;
    let (allowed_port, allowed_hits) = victim("127.0.0.2").await;
    let name = format!("attack-mixed-{}.test", std::process::id());
    let _hosts = HostsLines::add(&name, &["127.0.0.1", "127.0.0.2"]);
    let (_d, srv) = with_config(&format!(
        r#"
        [security]
        allowed_hosts = ["127.0.0.1:{}", "127.0.0.2"]
        "#,
        sshd.port
    ))
    .await;
    let s = srv.connect(&sshd).await;
    // The allowed address itself is a legitimate target.
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.2", "remote_port": allowed_port}),
        )
        .await;
    let _ = TcpStream::connect(v["local_address"].as_str().unwrap())
        .await
        .unwrap();
    // The refused one by its own address is refused.
    srv.err(
        "ssh_forward",
        json!({"session_id": s, "local_port": 0, "remote_address": "127.0.0.1", "remote_port": port}),
    )
    .await;
    // The name that also resolves to it.
    let r = srv
        .call(
            "ssh_forward",
            json!({"session_id": s, "local_port": 0, "remote_address": name, "remote_port": port}),
        )
        .await;
    if r.is_error != Some(true) {
        let local = r.structured_content.as_ref().unwrap()["local_address"]
            .as_str()
            .unwrap()
            .to_string();
        let _c = TcpStream::connect(&local).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for _ in 0..20 {
        if allowed_hits.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The forward's own reachability test counts as one connection too.
    assert!(
        allowed_hits.load(Ordering::SeqCst) >= 1,
        "the allowed target was reached"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "127.0.0.1:{port}, refused by allowed_hosts, was reached through {name}"
    );
    assert_eq!(r.is_error, Some(true), "the forward to {name} was allowed");
}

/// Promise: known_hosts files are never written through `local_path`. A
/// `UserKnownHostsFile` of the ssh client config is where this server records and checks
/// host keys, yet it is not among the protected files: a download replaces it.
#[tokio::test]
async fn known_hosts_files_of_the_ssh_config_should_be_out_of_reach() {
    let sshd = Sshd::start();
    let (_r, root) = dir();
    let kh = root.join("known_hosts");
    let trusted = sshd.known_hosts_line();
    std::fs::write(&kh, &trusted).unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host box\n  HostName 127.0.0.1\n  Port {}\n  User {USER}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            sshd.port,
            sshd::user().key.display(),
            kh.display()
        ),
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec![
                "--ssh-config".into(),
                cfg.display().to_string(),
                "--local-roots".into(),
                root.display().to_string(),
                "--host-key-policy".into(),
                "strict".into(),
            ],
            ..Default::default()
        },
    )
    .await;
    // Strict: the host is trusted through that file alone.
    let v = srv.ok("ssh_connect", json!({"address": "box"})).await;
    let s = v["session_id"].as_str().unwrap().to_string();
    let planted = remote_file("kh", "[127.0.0.1]:1 ssh-ed25519 AAAAplanted\n");
    // A legitimate download into the root works.
    srv.ok(
        "ssh_download",
        json!({"session_id": s, "remote_path": planted, "local_path": root.join("ok").display().to_string()}),
    )
    .await;
    let r = srv
        .call(
            "ssh_download",
            json!({"session_id": s, "remote_path": planted, "local_path": kh.display().to_string(), "overwrite": true}),
        )
        .await;
    let _ = std::fs::remove_file(&planted);
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        trusted,
        "the known_hosts file was replaced"
    );
    assert_eq!(
        r.is_error,
        Some(true),
        "the download over {kh:?} was allowed"
    );
}

/// Promise: the server's known_hosts file is never written through `local_path`. Given
/// as a relative path (or through a link) and not there yet when the server starts, it is
/// protected under a name that never matches: once created, a download replaces it.
#[tokio::test]
async fn a_known_hosts_file_made_after_the_start_should_be_out_of_reach() {
    let sshd = Sshd::start();
    let (_r, root) = dir();
    let kh = root.join("kh");
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec![
                "--known-hosts".into(),
                "kh".into(),
                "--host-key-policy".into(),
                "accept-new".into(),
            ],
            // The start directory is the root.
            cwd: Some(root.clone()),
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert!(recorded.contains(&sshd.host_key), "{recorded}");
    let planted = remote_file("kh2", "[127.0.0.1]:1 ssh-ed25519 AAAAplanted\n");
    srv.ok(
        "ssh_download",
        json!({"session_id": s, "remote_path": planted, "local_path": root.join("ok").display().to_string()}),
    )
    .await;
    let r = srv
        .call(
            "ssh_download",
            json!({"session_id": s, "remote_path": planted, "local_path": kh.display().to_string(), "overwrite": true}),
        )
        .await;
    let _ = std::fs::remove_file(&planted);
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        recorded,
        "the known_hosts file was replaced"
    );
    assert_eq!(
        r.is_error,
        Some(true),
        "the download over {kh:?} was allowed"
    );
}

/// Promise: environment variables that change what runs are refused under any command
/// policy. Git reads its configuration from `GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n`, and
/// `core.fsmonitor` is a command it runs: `git status`, the only command allowed, runs
/// anything.
#[tokio::test]
async fn env_that_makes_an_allowed_command_run_another_should_be_refused() {
    let sshd = Sshd::start();
    let repo = PathBuf::from(format!("/tmp/ssh-mcp-attack-repo-{}", std::process::id()));
    let marker = PathBuf::from(format!("/tmp/ssh-mcp-attack-ran-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    let _ = std::fs::remove_file(&marker);
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "."]);
    std::fs::write(repo.join("f"), "a").unwrap();
    git(&["add", "f"]);
    git(&["commit", "-qm", "x"]);
    assert!(
        Command::new("chown")
            .args(["-R", USER])
            .arg(&repo)
            .status()
            .unwrap()
            .success()
    );
    let (_d, srv) = with_config(
        r#"
        [security.commands]
        allow = ["^git status$"]
        "#,
    )
    .await;
    let s = srv.connect(&sshd).await;
    let repo_s = repo.display().to_string();
    // The allowed command runs.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "git status", "cwd": repo_s}),
        )
        .await;
    assert_eq!(v["exit_code"], 0, "{v}");
    let r = srv
        .call(
            "ssh_execute",
            json!({"session_id": s, "command": "git status", "cwd": repo_s, "env": {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "core.fsmonitor",
                "GIT_CONFIG_VALUE_0": format!("touch {}; false", marker.display()),
            }}),
        )
        .await;
    let ran = marker.exists();
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_dir_all(&repo);
    assert!(
        !ran,
        "a command outside the allow rules ran through git's env config"
    );
    assert_eq!(r.is_error, Some(true), "the env was accepted");
}

/// Promise: a named host with a `user` logs in as that user only. Its address given
/// directly instead of its name, its key (here the default identity file, as is common)
/// logs in as another account.
#[tokio::test]
async fn a_named_hosts_key_should_not_log_in_to_its_address_as_another_user() {
    let Some(other) =
        sshd::user_with_shell("/bin/bash").or_else(|| sshd::user_with_shell("/bin/sh"))
    else {
        panic!("no second user");
    };
    let sshd = Sshd::builder()
        .config(format!("AllowUsers {other}"))
        .start();
    let (_d, srv) = with_config(&format!(
        r#"
        [hosts.web1]
        address = "{addr}"
        user = "{USER}"
        identity_file = "~/.ssh/id_ed25519"
        "#,
        addr = sshd.address(),
    ))
    .await;
    let ssh_dir = srv.home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::copy(&sshd::user().key, ssh_dir.join("id_ed25519")).unwrap();
    std::fs::set_permissions(
        ssh_dir.join("id_ed25519"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Its own account through its name works; another is refused.
    let v = srv.ok("ssh_connect", json!({"address": "web1"})).await;
    let s = v["session_id"].as_str().unwrap();
    assert_eq!(srv.exec(s, "id -un").await["stdout"], format!("{USER}\n"));
    srv.err("ssh_connect", json!({"address": "web1", "username": other}))
        .await;
    // Its address.
    let r = srv
        .call(
            "ssh_connect",
            json!({"address": sshd.address(), "username": other}),
        )
        .await;
    let logged_in = sshd
        .log()
        .contains(&format!("Accepted publickey for {other}"));
    assert!(
        !logged_in,
        "the named host's key logged in as {other} through its address"
    );
    assert_eq!(r.is_error, Some(true));
    // Its key, named in key_path.
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "username": other,
                   "key_path": ssh_dir.join("id_ed25519")}),
        )
        .await;
    assert!(e.contains("web1"), "{e}");
    assert!(
        !sshd
            .log()
            .contains(&format!("Accepted publickey for {other}"))
    );
}

/// Promise: a remote forward never delivers to this server's own HTTP listener. With a
/// broad `forward_to`, `0.0.0.0` (which Linux connects to loopback) is neither loopback
/// nor the listener's address, so the check lets it through to the listener.
#[cfg(feature = "port_forward")]
#[tokio::test]
async fn remote_forwards_should_never_reach_the_own_listener_through_the_any_address() {
    let sshd = Sshd::start();
    let (_d, cfg) = crate::reach::config("[security]\nforward_to = [\"*\"]\n");
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec!["--config".into(), cfg],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let own_port: u16 = srv
        .url
        .as_deref()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    // Its own address is refused.
    srv.err(
        "ssh_forward",
        json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_host": "127.0.0.1", "local_port": own_port}),
    )
    .await;
    let r = srv
        .call(
            "ssh_forward",
            json!({"session_id": s, "kind": "remote", "remote_port": 0, "local_host": "0.0.0.0", "local_port": own_port}),
        )
        .await;
    if r.is_error != Some(true) {
        let remote = r.structured_content.as_ref().unwrap()["remote_address"]
            .as_str()
            .unwrap()
            .to_string();
        let out = srv
            .exec(
                &s,
                &format!(
                    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{}; cat >&3; head -c5 <&3'",
                    remote.rsplit(':').next().unwrap()
                ),
            )
            .await;
        assert_ne!(
            out["stdout"], "HTTP/",
            "the remote side reached this server's HTTP listener"
        );
    }
    assert_eq!(
        r.is_error,
        Some(true),
        "the forward to 0.0.0.0:{own_port} was allowed"
    );
    srv.stop().await;
}
