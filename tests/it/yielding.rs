//! Long commands outlive the client's patience: past `yield_after_secs` a foreground
//! command is returned as a job, goes on until its own timeout, and is followed with
//! `ssh_job`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;
use crate::sshd::Sshd;

#[tokio::test]
async fn a_command_past_yield_after_secs_should_go_on_as_a_job() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "echo start; sleep 5; echo end; exit 3",
                   "yield_after_secs": 2, "timeout_secs": 30}),
        )
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(v["stdout"], "start\n", "{v}");
    assert!(v["exit_code"].is_null(), "{v}");
    let job = v["job_id"].as_str().unwrap();
    let got = srv.recorder.progress.lock().unwrap().len();
    assert!(got >= 1, "progress flowed while the call waited");
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "wait_secs": 30}))
        .await;
    assert_eq!(r["status"], "exited", "{r}");
    assert_eq!(r["exit_code"], 3);
    assert_eq!(r["stdout"], "end\n");
    let r = srv
        .ok("ssh_job", json!({"job_id": job, "from_start": true}))
        .await;
    assert_eq!(
        r["stdout"], "start\nend\n",
        "from the start means the call's output too"
    );
    // A command that ends in time is an ordinary result, and leaves no job behind.
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 1; echo done", "yield_after_secs": 20}),
        )
        .await;
    assert_eq!(v["stdout"], "done\n");
    assert!(v.get("job_id").is_none(), "{v}");
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    let jobs = list["sessions"][0]["jobs"].as_array().unwrap().len();
    assert_eq!(jobs, 1, "only the yielded job is listed: {list}");
}

#[tokio::test]
async fn a_seventy_second_command_should_yield_at_45_seconds_and_exit_0() {
    let sshd = Sshd::start();
    let srv = Server::stdio().await;
    let s = srv.connect(&sshd).await;
    let started = Instant::now();
    let v = srv
        .ok(
            "ssh_execute",
            json!({"session_id": s, "command": "sleep 70", "timeout_secs": 120}),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(45) && took < Duration::from_secs(55),
        "{took:?}"
    );
    assert_eq!(v["status"], "running", "{v}");
    let job = v["job_id"].as_str().unwrap();
    let mut r = json!(null);
    for _ in 0..3 {
        r = srv
            .ok("ssh_job", json!({"job_id": job, "wait_secs": 60}))
            .await;
        if r["status"] != "running" {
            break;
        }
    }
    assert_eq!(r["status"], "exited", "{r}");
    assert_eq!(r["exit_code"], 0, "{r}");
    assert!(started.elapsed() >= Duration::from_secs(70));
}
