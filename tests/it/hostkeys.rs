//! known_hosts semantics: host certificates, and agreement with OpenSSH's own matcher.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use ssh_mcp::ssh::known_hosts::KnownHosts;

use crate::harness::Server;
use crate::sshd::{self, PASSWORD, Sshd, USER};

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `dir/host_ed25519.pub` with a new CA for `principal`; returns the CA public key line.
fn sign_host_key(dir: &Path, principal: &str) -> String {
    let ca = sshd::keygen(dir, "ca", "ed25519", "");
    run(Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "test-host", "-h", "-n", principal, "-V", "-5m:+1h"])
        .arg(dir.join("host_ed25519.pub")));
    std::fs::read_to_string(ca.with_extension("pub"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn host_certificates_from_a_trusted_ca_should_be_accepted_and_others_refused() {
    for (principal, accepted) in [("127.0.0.1", true), ("some.other.host", false)] {
        // Sign the host key of a first sshd, then start one that presents the certificate.
        let probe = Sshd::start();
        let ca = sign_host_key(probe.dir.path(), principal);
        let cert = probe.dir.path().join("host_ed25519-cert.pub");
        let sshd = Sshd::builder()
            .config(format!(
                "HostKey {}",
                probe.dir.path().join("host_ed25519").display()
            ))
            .config(format!("HostCertificate {}", cert.display()))
            .start();
        let kh = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(kh.path(), format!("@cert-authority [127.0.0.1]:* {ca}\n")).unwrap();
        let srv = Server::with_host_keys("strict", kh.path()).await;
        let args = json!({"address": sshd.address(), "username": USER, "password": PASSWORD});
        if accepted {
            let v = srv.ok("ssh_connect", args).await;
            assert_eq!(v["host_key_status"], "certificate", "{v}");
        } else {
            let e = srv.err("ssh_connect", args).await;
            assert!(
                e.contains("host certificate") && e.contains("REFUSED"),
                "{e}"
            );
        }
    }
}

#[test]
fn known_hosts_matching_should_agree_with_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..6)
        .map(|i| {
            let k = sshd::keygen(dir.path(), &format!("k{i}"), "ed25519", "");
            std::fs::read_to_string(k.with_extension("pub"))
                .unwrap()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let plain = dir.path().join("plain");
    std::fs::write(
        &plain,
        format!(
            "# comment\nexact.example.org {}\n*.wild.example  {}\nweb?.example,db.example {}\n[bracket.example]:2222 {}\n*.neg.example,!bad.neg.example {}\n10.1.2.* {}\n",
            keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
        ),
    )
    .unwrap();
    // A second copy with every name hashed, as `HashKnownHosts yes` writes them.
    let hashed = dir.path().join("hashed");
    std::fs::write(
        &hashed,
        format!(
            "exact.example.org {}\n[bracket.example]:2222 {}\n",
            keys[0], keys[3]
        ),
    )
    .unwrap();
    run(Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&hashed));
    let queries = [
        "exact.example.org",
        "EXACT.example.org",
        "other.example.org",
        "a.wild.example",
        "wild.example",
        "web1.example",
        "web12.example",
        "db.example",
        "[bracket.example]:2222",
        "bracket.example",
        "[bracket.example]:22",
        "good.neg.example",
        "bad.neg.example",
        "10.1.2.3",
        "10.1.3.3",
    ];
    for file in [&plain, &hashed] {
        let ours = KnownHosts::new(vec![file.to_path_buf()]);
        for q in queries {
            // `ssh` lowercases the host name before looking it up; so do we.
            let q = q.to_ascii_lowercase();
            let openssh = Command::new("ssh-keygen")
                .args(["-F", &q, "-f"])
                .arg(file)
                .output()
                .unwrap();
            let openssh_found = openssh.status.success() && !openssh.stdout.is_empty();
            let found = !ours.algorithms_for(&q).is_empty();
            assert_eq!(found, openssh_found, "{q} in {}", file.display());
        }
    }
}

#[tokio::test]
async fn policy_off_should_connect_anyway_and_say_so() {
    let sshd = Sshd::start();
    let kh = tempfile::NamedTempFile::new().unwrap();
    // A wrong key on record: refused under accept-new, accepted (and flagged) under off.
    let other = sshd::keygen(sshd.dir.path(), "other", "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let line = format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port,
        other_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    std::fs::write(kh.path(), &line).unwrap();
    let args = json!({"address": sshd.address(), "username": USER, "password": PASSWORD});
    for (policy, ok) in [("accept-new", false), ("off", true)] {
        let srv = Server::with_host_keys(policy, kh.path()).await;
        if ok {
            let v = srv.ok("ssh_connect", args.clone()).await;
            assert_eq!(v["host_key_status"], "unverified");
            assert!(
                v["message"].as_str().unwrap().contains("NOT verified"),
                "{v}"
            );
        } else {
            let e = srv.err("ssh_connect", args.clone()).await;
            assert!(e.contains("does not match"), "{e}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(kh.path()).unwrap(),
        line,
        "known_hosts must not change"
    );
}
