//! Operator control: config file, named hosts, credentials, allowlist, command policy,
//! audit log, HTTP authentication and session ownership.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Opts, Server, Transport, http_client, text};
use crate::sshd::{self, PASSWORD, Sshd, USER};

/// A config file in its own temp dir; returns (dir, path).
fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssh-mcp.toml");
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

#[tokio::test]
async fn named_hosts_should_connect_without_credentials_in_arguments() {
    let sshd = Sshd::start();
    let (dir, cfg) = config(&format!(
        r#"
        [security]
        allow_credentials_in_arguments = false
        allowed_hosts = ["nothing.example"]

        [audit]
        file = "{audit}"

        [hosts.web1]
        address = "{addr}"
        user = "{USER}"
        password_env = "WEB1_PASSWORD"

        [hosts.keyed]
        address = "{addr}"
        user = "{USER}"
        identity_file = "{key}"
        "#,
        audit = tempfile::env::temp_dir().join("unused").display(),
        addr = sshd.address(),
        key = sshd::user().key.display(),
    ));
    let audit = dir.path().join("audit.jsonl");
    // Point the audit log into the test's dir.
    let text_cfg = std::fs::read_to_string(&cfg).unwrap().replace(
        &tempfile::env::temp_dir()
            .join("unused")
            .display()
            .to_string(),
        &audit.display().to_string(),
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), cfg.clone()],
            env: vec![
                ("WEB1_PASSWORD".into(), PASSWORD.into()),
                ("RUST_LOG".into(), "trace".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let instructions = srv
        .client
        .peer_info()
        .unwrap()
        .instructions
        .clone()
        .unwrap_or_default();
    assert!(
        instructions.contains("web1, keyed") || instructions.contains("keyed, web1"),
        "{instructions}"
    );
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["named_hosts"], json!(["keyed", "web1"]));

    let v = srv.ok("ssh_connect", json!({"address": "web1"})).await;
    assert_eq!(v["auth_method"], "password");
    let s = v["session_id"].as_str().unwrap().to_string();
    assert_eq!(srv.exec(&s, "whoami").await["stdout"], format!("{USER}\n"));
    let v = srv.ok("ssh_connect", json!({"address": "keyed"})).await;
    // The operator's key is not shown by its path.
    assert_eq!(v["auth_method"], "named host key");

    // Credentials in arguments are refused, and so is any host outside the allowlist.
    let e = srv
        .err(
            "ssh_connect",
            json!({"address": sshd.address(), "password": PASSWORD}),
        )
        .await;
    assert!(
        e.contains("refused by this server's policy") && e.contains("named hosts"),
        "{e}"
    );
    assert!(!e.contains(PASSWORD));
    let e = srv
        .err("ssh_connect", json!({"address": sshd.address()}))
        .await;
    assert!(
        e.contains("not in this server's list of allowed hosts"),
        "{e}"
    );

    let log = srv.log();
    assert!(!log.contains(PASSWORD), "the password leaked into the log");
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!std::fs::read_to_string(&audit).unwrap().contains(PASSWORD));
    let exec = lines.iter().find(|l| l["tool"] == "ssh_execute").unwrap();
    assert_eq!(exec["command"], "whoami");
    assert_eq!(exec["exit_code"], 0);
    assert_eq!(exec["decision"], "allowed");
    assert_eq!(exec["user"], USER);
    assert!(exec["ts"].as_str().unwrap().ends_with('Z'));
    assert!(exec["client"].as_str().unwrap().contains("rmcp"), "{exec}");
    assert_eq!(
        lines.iter().filter(|l| l["decision"] == "refused").count(),
        2,
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_command_policy_should_refuse_and_audit() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (_d, cfg) = config(&format!(
        "[security.commands]\npreset = \"read_only\"\ndeny = [\"/etc/shadow\"]\n[audit]\nfile = \"{}\"\n",
        audit.display()
    ));
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), cfg],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    assert_eq!(srv.exec(&s, "ls / | head -1").await["exit_code"], 0);
    for bad in [
        "rm -rf /tmp/nothing",
        "echo x > /tmp/file",
        "cat /etc/shadow",
    ] {
        let e = srv
            .err("ssh_execute", json!({"session_id": s, "command": bad}))
            .await;
        assert!(e.contains("refused by this server's policy"), "{bad}: {e}");
    }
    let refused = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"decision\":\"refused\""))
        .count();
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn a_bad_config_file_should_stop_the_server_with_the_line_and_key() {
    let (_d, cfg) = config(
        "[defaults]\ncommand_timeout = 5\n\n[hosts.a]\naddress = \"h\"\npasword_env = \"X\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ssh-mcp-stdio"))
        .args(["--config", &cfg])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6") && err.contains("pasword_env"),
        "{err}"
    );
}

#[tokio::test]
async fn http_should_require_the_token_and_keep_sessions_apart() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "alice:alice-token-0123456789\nbob:bob-token-0123456789ab\n",
    )
    .unwrap();
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec!["--token-file".into(), tokens.display().to_string()],
            token: Some("alice-token-0123456789".into()),
            ..Default::default()
        },
    )
    .await;
    let url = srv.url.clone().unwrap();
    let http = reqwest::Client::new();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some("Basic YWxpY2U6eA=="),
    ] {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        assert_eq!(r.send().await.unwrap().status(), 401, "{auth:?}");
    }
    let s = srv.connect(&sshd).await;
    let bob = http_client(&url, Some("bob-token-0123456789ab")).await;
    let call = |tool: &str, args: Value| {
        rmcp::model::CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().unwrap().clone())
    };
    let r = bob
        .call_tool(call("ssh_list_sessions", json!({})))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["sessions"], json!([]));
    let r = bob
        .call_tool(call(
            "ssh_execute",
            json!({"session_id": s, "command": "true"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("no session with id"));
    let r = bob
        .call_tool(call("ssh_disconnect", json!({"session_id": s})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    // Alice's session is untouched.
    assert_eq!(srv.exec(&s, "echo still").await["stdout"], "still\n");
}

#[tokio::test]
async fn a_public_bind_without_a_token_should_be_refused() {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ssh-mcp"))
            .env("MCP_HOST", "0.0.0.0")
            .env("MCP_PORT", "0")
            .env_remove("SSH_MCP_TOKEN")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without authentication"), "{err}");
}

/// The audit log's lines, parsed.
fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn ssh_job_and_ssh_list_sessions_should_be_audited() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (_d, cfg) = config(&format!("[audit]\nfile = \"{}\"\n", audit.display()));
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--config".into(), cfg],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["session_id"], s.as_str());
    let started = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo done; exit 4", "background": true}),
        )
        .await;
    let job = started["job_id"].as_str().unwrap().to_string();
    let read = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 20}))
        .await;
    assert_eq!(
        (&read["status"], &read["stdout"]),
        (&json!("exited"), &json!("done\n"))
    );
    let sleeper = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 30", "background": true}),
        )
        .await;
    let sleeper = sleeper["job_id"].as_str().unwrap().to_string();
    let killed = srv
        .ok("ssh_job", json!({"job_id": sleeper, "kill": true}))
        .await;
    assert_eq!(killed["status"], "killed");
    let e = srv.err("ssh_job", json!({"job_id": "job-unknown"})).await;
    assert!(e.contains("no job with id"), "{e}");

    let lines = audit_lines(&audit);
    let of = |tool: &str| -> Vec<&Value> { lines.iter().filter(|l| l["tool"] == tool).collect() };
    let listed = of("ssh_list_sessions");
    assert_eq!(listed.len(), 1, "{lines:?}");
    assert_eq!(listed[0]["decision"], "allowed");
    assert!(listed[0]["client"].as_str().unwrap().contains("rmcp"));
    let jobs = of("ssh_job");
    assert_eq!(jobs.len(), 3, "{lines:?}");
    let (read, kill, unknown) = (jobs[0], jobs[1], jobs[2]);
    assert_eq!(read["job_id"], job.as_str());
    assert_eq!(read["session_id"], s.as_str());
    assert_eq!(read["command"], "echo done; exit 4");
    assert_eq!(read["decision"], "allowed");
    assert_eq!(read["exit_code"], 4);
    assert_eq!(read["stdout_bytes"], 5);
    assert!(read.get("target").is_none(), "{read}");
    assert_eq!(kill["job_id"], sleeper.as_str());
    assert_eq!(kill["target"], "kill");
    assert_eq!(kill["decision"], "allowed");
    assert_eq!(unknown["job_id"], "job-unknown");
    assert_eq!(unknown["decision"], "failed");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("no job with id")
    );
    // Each of the other calls has its line too.
    assert_eq!(of("ssh_connect").len(), 1);
    assert_eq!(of("ssh_execute").len(), 2);
}

#[tokio::test]
async fn concurrent_connects_should_not_pass_the_session_cap() {
    let sshd = Sshd::start();
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            args: vec!["--max-sessions".into(), "2".into()],
            ..Default::default()
        },
    )
    .await;
    let args = json!({"address": sshd.address(), "username": USER,
                      "key_path": sshd::user().key.to_str().unwrap()});
    let calls = (0..6).map(|_| srv.call("ssh_connect", args.clone()));
    let results = futures::future::join_all(calls).await;
    let texts: Vec<String> = results.iter().map(text).collect();
    let opened: Vec<String> = results
        .iter()
        .filter(|r| r.is_error != Some(true))
        .map(|r| {
            r.structured_content.as_ref().unwrap()["session_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(opened.len(), 2, "{texts:?}");
    for r in results.iter().filter(|r| r.is_error == Some(true)) {
        let e = text(r);
        assert!(e.contains("2 sessions are open or opening"), "{e}");
    }
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
    // The refused calls never reached the server.
    let accepted = |log: &str| log.matches("Accepted publickey").count();
    assert_eq!(accepted(&sshd.log()), 2, "{}", sshd.log());

    // The places are given back: after one disconnect, one more connect succeeds, and the
    // one after that is refused again.
    srv.ok("ssh_disconnect", json!({"session_id": opened[0]}))
        .await;
    let again = srv.ok("ssh_connect", args.clone()).await;
    assert_eq!(
        srv.exec(again["session_id"].as_str().unwrap(), "echo ok")
            .await["stdout"],
        "ok\n"
    );
    let e = srv.err("ssh_connect", args).await;
    assert!(e.contains("2 sessions are open or opening"), "{e}");
    assert_eq!(accepted(&sshd.log()), 3);
}
