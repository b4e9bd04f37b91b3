//! Who may reach which host through `ssh_fanout`: session ids serve only their owner, and
//! an unknown host key is never trusted on the way.

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::fanout::{groups, server};
use crate::fleet::Fleet;
use crate::harness::{self, Opts, Server, Transport, http_client};
use crate::reach::config;

#[tokio::test]
async fn session_ids_should_serve_only_their_owner() {
    let fleet = Fleet::start(2);
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let (alice, bob) = (
        "alice-fanout-token-0123456789",
        "bob-fanout-token-0123456789",
    );
    std::fs::write(&tokens, format!("alice:{alice}\nbob:{bob}\n")).unwrap();
    let (_c, path) = config(&fleet.config());
    let srv = Server::start_with(
        Transport::Http,
        Opts {
            args: vec![
                "--config".into(),
                path,
                "--token-file".into(),
                tokens.display().to_string(),
            ],
            token: Some(alice.into()),
            ..Default::default()
        },
    )
    .await;
    let v = srv.ok("ssh_connect", json!({"address": "h01"})).await;
    let s = v["session_id"].as_str().unwrap().to_string();
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": [s, "h02"], "command": "echo hi"}),
        )
        .await;
    assert_eq!(groups(&v), vec![vec![s.clone(), "h02".to_string()]]);
    // A named host and the id of the session to it are one host: the command runs once.
    let v = srv
        .ok(
            "ssh_fanout",
            json!({"targets": ["h01", s], "command": "echo hi"}),
        )
        .await;
    assert_eq!(groups(&v), vec![vec!["h01".to_string()]]);
    let other = http_client(srv.url.as_ref().unwrap(), Some(bob)).await;
    let r = other
        .call_tool(
            CallToolRequestParams::new("ssh_fanout").with_arguments(
                json!({"targets": [s], "command": "echo hi"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(harness::text(&r).contains("unknown target"), "{r:?}");
}

/// Under `ask`, an unknown host is that host's error, never trusted. This client cannot
/// confirm keys, so the model is told what the operator must do rather than to confirm the
/// key with ssh_connect (which could not ask either).
#[tokio::test]
async fn unknown_host_keys_should_be_errors_that_say_what_to_do() {
    let fleet = Fleet::start(2);
    let (_d, srv) = server(&fleet.config(), &["--host-key-policy", "ask"]).await;
    let v = srv
        .ok("ssh_fanout", json!({"targets": ["h*"], "command": "true"}))
        .await;
    assert_eq!(v["summary"]["errors"], 2, "{v}");
    for e in v["errors"].as_array().unwrap() {
        assert_eq!(e["stage"], "host_key", "{v}");
        let text = e["error"].as_str().unwrap();
        assert!(text.contains("known_hosts"), "{text}");
        assert!(!text.contains("ssh_connect"), "{text}");
    }
    let known = std::fs::read_to_string(srv.known_hosts()).unwrap_or_default();
    assert!(known.is_empty(), "a host key was recorded: {known}");
    assert_eq!(fleet.accepted(), 0);
}
