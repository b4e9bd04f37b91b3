//! `~/.ssh/config` aliases: resolution agrees with `ssh -G`, and connecting by alias works.

use std::process::Command;

use serde_json::json;
use ssh_mcp::config::ssh_config::ClientConfig;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::{self, Sshd, USER};

/// `ssh -G -F file alias`, as `key -> values` (keys lowercase).
fn ssh_g(file: &std::path::Path, alias: &str) -> Vec<(String, String)> {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(file)
        .arg(alias)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn get<'a>(g: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    g.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn aliases_should_resolve_like_ssh_g() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("included");
    std::fs::write(
        &inc,
        "Host inc-*\n  HostName included.example\n  Port 2200\n",
    )
    .unwrap();
    let file = dir.path().join("config");
    std::fs::write(
        &file,
        format!(
            "Include {}\n\
             Host web\n  HostName web.internal\n  Port 2222\n  User deploy\n  IdentityFile /keys/web\n  IdentitiesOnly yes\n\
             Host web db !db-old\n  Port 22\n  IdentityFile /keys/shared\n  StrictHostKeyChecking yes\n  UserKnownHostsFile /kh/one\n\
             Host *.lan\n  User lanuser\n  ConnectTimeout 7\n\
             Host *\n  User everyone\n",
            inc.display()
        ),
    )
    .unwrap();
    let ours = ClientConfig::load(&file).unwrap();
    for alias in ["web", "db", "db-old", "printer.lan", "inc-a", "plain"] {
        let g = ssh_g(&file, alias);
        let r = ours.resolve(alias);
        assert_eq!(
            vec![r.host.as_str()],
            get(&g, "hostname"),
            "{alias}: hostname"
        );
        assert_eq!(
            vec![r.port.unwrap_or(22).to_string()],
            get(&g, "port"),
            "{alias}: port"
        );
        assert_eq!(
            vec![r.user.clone().unwrap_or_default()],
            get(&g, "user"),
            "{alias}: user"
        );
        if !r.identity_files.is_empty() {
            let ids: Vec<String> = r
                .identity_files
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            assert_eq!(ids, get(&g, "identityfile"), "{alias}: identityfile");
        }
        if let Some(t) = r.connect_timeout {
            assert_eq!(
                vec![t.as_secs().to_string()],
                get(&g, "connecttimeout"),
                "{alias}"
            );
        }
        let strict = get(&g, "stricthostkeychecking");
        assert_eq!(
            r.host_key_policy.is_some(),
            strict == ["true"],
            "{alias}: {strict:?}"
        );
        if !r.known_hosts.is_empty() {
            assert_eq!(get(&g, "userknownhostsfile"), vec!["/kh/one"], "{alias}");
        }
        assert_eq!(
            r.identities_only,
            get(&g, "identitiesonly") == ["yes"],
            "{alias}"
        );
    }
}

#[tokio::test]
async fn ssh_connect_should_accept_a_host_alias() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(
        &file,
        format!(
            "Host testbox\n  HostName 127.0.0.1\n  Port {}\n  User {USER}\n  IdentityFile {}\n  IdentitiesOnly yes\n",
            sshd.port,
            sshd::user().key.display()
        ),
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--ssh-config".into(), file.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let v = srv.ok("ssh_connect", json!({"address": "testbox"})).await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{USER}@127.0.0.1:{}", sshd.port)),
        "{v}"
    );
    assert!(
        v["auth_method"].as_str().unwrap().contains("id_ed25519"),
        "{v}"
    );
    let s = v["session_id"].as_str().unwrap();
    assert_eq!(srv.exec(s, "echo via alias").await["stdout"], "via alias\n");
    // A file with Match is refused at start-up, not misapplied.
    std::fs::write(&file, "Host a\n  User x\nMatch user root\n  User y\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ssh-mcp-stdio"))
        .arg("--ssh-config")
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Match"));
}

#[tokio::test]
async fn proxy_jump_should_reach_the_target_through_the_bastion() {
    let bastion = Sshd::builder().config("LogLevel DEBUG1").start();
    let target = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    let key = sshd::user().key.display().to_string();
    std::fs::write(
        &file,
        format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {bp}\n  User {USER}\n  IdentityFile {key}\n\
             Host inner\n  HostName 127.0.0.1\n  Port {tp}\n  User {USER}\n  IdentityFile {key}\n  ProxyJump bastion\n\
             Host broken\n  HostName 127.0.0.1\n  Port {tp}\n  User {USER}\n  ProxyJump {USER}@127.0.0.1:1\n",
            bp = bastion.port,
            tp = target.port,
        ),
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--ssh-config".into(), file.display().to_string()],
            ..Default::default()
        },
    )
    .await;
    let v = srv.ok("ssh_connect", json!({"address": "inner"})).await;
    let s = v["session_id"].as_str().unwrap();
    assert_eq!(
        srv.exec(s, "echo $SSH_CONNECTION | cut -d' ' -f4").await["stdout"],
        format!("{}\n", target.port)
    );
    // The bastion carried it: it logged the direct-tcpip channel to the target.
    let log = bastion.log();
    assert!(
        log.contains("direct-tcpip") && log.contains(&format!("port {}", target.port)),
        "{log}"
    );
    // Both hops are recorded in known_hosts under their own names.
    let kh = std::fs::read_to_string(srv.known_hosts()).unwrap();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{}", bastion.port))
            && kh.contains(&format!("[127.0.0.1]:{}", target.port))
    );
    srv.ok("ssh_disconnect", json!({"session_id": s})).await;
    let e = srv.err("ssh_connect", json!({"address": "broken"})).await;
    assert!(
        e.contains("via jump host 127.0.0.1:1") && e.contains("Connection refused"),
        "{e}"
    );
}
