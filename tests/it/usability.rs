//! What a model would otherwise stumble on: which session is which, transfers verified in
//! one call, jobs read twice, tunnels that say whether their target answers.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::Server;
use crate::reach::with_config;
use crate::sshd::{self, Sshd, USER};

#[tokio::test]
async fn sessions_should_say_which_named_host_they_are() {
    let sshd = Sshd::start();
    // The operator's own copy of the key (the harness connects with the original).
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("web1_key");
    std::fs::copy(&sshd::user().key, &key).unwrap();
    let (_d, srv) = with_config(&format!(
        "[hosts.web1]\naddress = \"{}\"\nuser = \"{USER}\"\nidentity_file = \"{}\"\n",
        sshd.address(),
        key.display()
    ))
    .await;
    let v = srv.ok("ssh_connect", json!({"address": "web1"})).await;
    assert_eq!(v["auth_method"], "named host key", "{v}");
    srv.connect(&sshd).await;
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions[0]["name"], "web1", "{list}");
    assert_eq!(sessions[0]["auth_method"], "named host key", "{list}");
    assert!(sessions[1]["name"].is_null(), "{list}");
    assert!(
        !list.to_string().contains("web1_key"),
        "the operator's key path is not shown: {list}"
    );
}

#[tokio::test]
async fn transfers_should_be_verified_by_the_remote_side() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let remote = format!("/tmp/ssh-mcp-verify-{}", std::process::id());
    let v = srv
        .ok(
            "ssh_upload",
            json!({"session_id": s, "remote_path": remote, "content": "intact\n", "overwrite": true}),
        )
        .await;
    let on_disk = ssh_mcp::hex::encode(&Sha256::digest(std::fs::read(&remote).unwrap()));
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["remote_sha256"], on_disk);
    assert_eq!(v["sha256"], on_disk);
    let v = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote}),
        )
        .await;
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["remote_sha256"], on_disk);
    // Part of a file cannot be checked against the whole.
    let v = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote, "max_bytes": 3}),
        )
        .await;
    assert!(v["verified"].is_null(), "{v}");
    assert!(v["verify_note"].as_str().unwrap().contains("part"), "{v}");
    let _ = std::fs::remove_file(&remote);

    // A server that runs no commands cannot hash: the upload still works, unverified.
    let sftp_only = Sshd::builder().config("ForceCommand internal-sftp").start();
    let s = srv.connect(&sftp_only).await;
    let v = srv
        .ok(
            "ssh_upload",
            json!({"session_id": s, "remote_path": remote, "content": "x", "overwrite": true}),
        )
        .await;
    assert!(v["verified"].is_null(), "{v}");
    assert!(v["verify_note"].is_string(), "{v}");
    let _ = std::fs::remove_file(&remote);
}

#[tokio::test]
async fn jobs_should_be_readable_again_from_the_start() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo one; sleep 1; echo two", "background": true}),
        )
        .await;
    assert_eq!(v["status"], "running", "{v}");
    assert!(v["exit_code"].is_null(), "{v}");
    let job = v["job_id"].as_str().unwrap();
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 20}))
        .await;
    assert_eq!(r["stdout"], "one\ntwo\n", "{r}");
    let r = srv.ok("ssh_job", json!({"job_id": job})).await;
    assert_eq!(r["stdout"], "", "a poll returns only new output");
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "from_start": true}))
        .await;
    assert_eq!(r["stdout"], "one\ntwo\n", "{r}");
    assert_eq!(r["exit_code"], 0);
}

#[cfg(feature = "port_forward")]
#[tokio::test]
async fn local_forwards_should_say_whether_their_target_answers() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let echo = crate::forward::echo_server().await;
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "remote_address": "127.0.0.1", "remote_port": echo}),
        )
        .await;
    assert_eq!(v["target_reachable"], true, "{v}");
    assert!(!v["local_address"].as_str().unwrap().ends_with(":0"), "{v}");
    let closed = crate::sshd::free_port();
    let v = srv
        .ok(
            "ssh_forward",
            json!({"session_id": s, "remote_address": "127.0.0.1", "remote_port": closed}),
        )
        .await;
    assert_eq!(v["target_reachable"], false, "{v}");
    assert!(v["target_error"].is_string(), "{v}");
    let v = srv
        .ok("ssh_forward", json!({"session_id": s, "kind": "dynamic"}))
        .await;
    assert!(v["target_reachable"].is_null(), "{v}");
}
