//! Local files: `local_path` reaches only the allowed roots, and never the server's own
//! secrets, whatever the roots, the links or the transport.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{Opts, Server, Transport};
use crate::sshd::Sshd;

const TOKEN: &str = "tok-4f1c9a7e2b5d8c3a";
const PASSWORD_IN_ENV: &str = "pw-9d2e7b1c4a6f";

/// A directory made for one test, resolved (the server compares resolved paths).
pub(crate) fn dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().canonicalize().unwrap();
    (d, real)
}

/// Options for a server with `roots` as its local roots ("" for none), holding secrets in
/// its environment, started in `cwd`.
fn opts(roots: &str, cwd: &Path) -> Opts {
    Opts {
        env: vec![
            ("SSH_MCP_LOCAL_ROOTS".into(), roots.into()),
            ("SSH_MCP_TOKEN".into(), TOKEN.into()),
            ("WEB1_PASSWORD".into(), PASSWORD_IN_ENV.into()),
        ],
        cwd: Some(cwd.to_path_buf()),
        token: Some(TOKEN.into()),
        ..Default::default()
    }
}

fn unique_remote(tag: &str) -> String {
    format!("/tmp/ssh-mcp-confine-{tag}-{}", std::process::id())
}

/// Uploads `local` and asserts the refusal, and that nothing reached the remote side.
async fn upload_refused(srv: &Server, s: &str, local: &str, tag: &str) -> String {
    let remote = unique_remote(tag);
    let e = srv
        .err(
            "ssh_upload",
            json!({"session_id": s, "local_path": local, "remote_path": remote}),
        )
        .await;
    assert!(
        !Path::new(&remote).exists(),
        "{local}: {remote} was written"
    );
    e
}

#[tokio::test]
async fn the_server_environment_should_not_leak_through_an_upload() {
    let sshd = Sshd::start();
    let (_d, root) = dir();
    for transport in [Transport::Stdio, Transport::Http] {
        // Even with a root that holds a link to it, and started in the root.
        let link = root.join(format!("env-{transport:?}"));
        std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
        let srv = Server::start_with(transport, opts(&root.display().to_string(), &root)).await;
        let s = srv.connect(&sshd).await;
        for (i, local) in [
            "/proc/self/environ",
            "/proc/1/environ",
            link.to_str().unwrap(),
        ]
        .iter()
        .enumerate()
        {
            let e = upload_refused(&srv, &s, local, &format!("env{i}")).await;
            assert!(e.contains("never reads or writes"), "{local}: {e}");
            assert!(!e.contains(TOKEN) && !e.contains(PASSWORD_IN_ENV), "{e}");
        }
        // Downloading over the server's own files is refused too.
        let e = srv
            .err(
                "ssh_download",
                json!({"session_id": s, "remote_path": "/etc/hostname",
                       "local_path": "/proc/self/environ", "overwrite": true}),
            )
            .await;
        assert!(e.contains("never reads or writes"), "{e}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn local_roots_should_confine_reads_and_writes() {
    let sshd = Sshd::start();
    let (_d, root) = dir();
    let (_o, outside) = dir();
    std::fs::write(outside.join("secret"), "outside").unwrap();
    std::fs::write(root.join("data"), "inside").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), root.join("link")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("dirlink")).unwrap();
    let config = root.join("ssh-mcp.toml");
    let audit = outside.join("audit.jsonl");
    let config_text = format!("[audit]\nfile = \"{}\"\n", audit.display());
    std::fs::write(&config, &config_text).unwrap();
    std::fs::hard_link(&config, root.join("hardlink")).unwrap();
    let mut o = opts(&root.display().to_string(), Path::new("/"));
    o.args = vec!["--config".into(), config.display().to_string()];
    let srv = Server::start_with(Transport::Stdio, o).await;
    let s = srv.connect(&sshd).await;

    // Legitimate use inside the root works both ways.
    let remote = unique_remote("ok");
    srv.ok(
        "ssh_upload",
        json!({"session_id": s, "local_path": root.join("data"), "remote_path": remote, "overwrite": true}),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&remote).unwrap(), "inside");
    srv.ok(
        "ssh_download",
        json!({"session_id": s, "remote_path": remote, "local_path": root.join("back"), "overwrite": true}),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(root.join("back")).unwrap(),
        "inside"
    );
    let _ = std::fs::remove_file(&remote);

    // Escapes by `..`, by a link to a file and through a linked directory.
    let dotdot = format!("{}/../{}/secret", root.display(), outside.display());
    for (tag, local) in [
        ("dotdot", dotdot.clone()),
        ("link", root.join("link").display().to_string()),
        ("dirlink", root.join("dirlink/secret").display().to_string()),
        ("abs", outside.join("secret").display().to_string()),
    ] {
        let e = upload_refused(&srv, &s, &local, tag).await;
        assert!(e.contains("outside the directories"), "{local}: {e}");
    }
    // The server's own config file, under its name or another one, is never read.
    for (tag, local) in [("config", &config), ("hardlink", &root.join("hardlink"))] {
        let e = upload_refused(&srv, &s, local.to_str().unwrap(), tag).await;
        assert!(e.contains("never reads or writes"), "{e}");
    }
    // Writes: outside the root, through a linked directory, over the config file.
    for local in [
        outside.join("new"),
        root.join("dirlink/new"),
        config.clone(),
    ] {
        srv.err(
            "ssh_download",
            json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": local, "overwrite": true}),
        )
        .await;
    }
    assert!(!outside.join("new").exists());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_text);
    // Every refusal is in the audit log, with the local path.
    let log = std::fs::read_to_string(&audit).unwrap();
    let refused: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["decision"] == "refused")
        .collect();
    assert_eq!(refused.len(), 9, "{log}");
    assert!(
        refused
            .iter()
            .any(|e| e["tool"] == "ssh_upload" && e["local_path"] == dotdot),
        "{log}"
    );
    // Nothing but the files made above is left in either directory.
    let mut left: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["audit.jsonl", "secret"]);
    srv.stop().await;
}

#[tokio::test]
async fn a_root_holding_the_home_should_still_hide_its_ssh_directory() {
    let sshd = Sshd::start();
    // The harness gives the server a temporary $HOME under /tmp: /tmp holds it.
    let srv = Server::start_with(
        Transport::Stdio,
        Opts {
            env: vec![("SSH_MCP_LOCAL_ROOTS".into(), "/tmp".into())],
            ..Default::default()
        },
    )
    .await;
    let s = srv.connect(&sshd).await;
    let home = srv.home.path().canonicalize().unwrap();
    assert!(home.starts_with("/tmp"), "{}", home.display());
    let known_hosts = home.join(".ssh/known_hosts");
    assert!(known_hosts.exists(), "connecting recorded the host");
    let e = upload_refused(&srv, &s, known_hosts.to_str().unwrap(), "kh").await;
    assert!(e.contains("never reads or writes"), "{e}");
    let before = std::fs::read_to_string(&known_hosts).unwrap();
    srv.err(
        "ssh_download",
        json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": known_hosts, "overwrite": true}),
    )
    .await;
    srv.err(
        "ssh_download",
        json!({"session_id": s, "remote_path": "/etc/hostname", "local_path": home.join(".ssh/authorized_keys")}),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), before);
    assert!(!home.join(".ssh/authorized_keys").exists());
    srv.stop().await;
}

#[tokio::test]
async fn without_roots_the_client_roots_or_the_start_directory_should_apply() {
    let sshd = Sshd::start();
    let (_a, a) = dir();
    let (_b, b) = dir();
    std::fs::write(a.join("f"), "a").unwrap();
    std::fs::write(b.join("f"), "b").unwrap();
    let fa = a.join("f").display().to_string();
    let fb = b.join("f").display().to_string();

    // The client's roots, refreshed when it says they changed.
    let mut o = opts("", &b);
    o.roots = vec![format!("file://{}", a.display())];
    let srv = Server::start_with(Transport::Stdio, o).await;
    let s = srv.connect(&sshd).await;
    let remote = unique_remote("roots");
    let up = |local: &str| json!({"session_id": s, "local_path": local, "remote_path": remote, "overwrite": true});
    srv.ok("ssh_upload", up(&fa)).await;
    let e = upload_refused(&srv, &s, &fb, "roots-b").await;
    assert!(e.contains(&a.display().to_string()), "{e}");
    *srv.recorder.roots.lock().unwrap() = vec![format!("file://{}", b.display())];
    srv.client.notify_roots_list_changed().await.unwrap();
    let mut switched = false;
    for _ in 0..50 {
        if srv.call("ssh_upload", up(&fb)).await.is_error != Some(true) {
            switched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(switched, "the new roots were not used");
    upload_refused(&srv, &s, &fa, "roots-a").await;
    let _ = std::fs::remove_file(&remote);
    srv.stop().await;

    // No roots declared: the directory the server was started in.
    let srv = Server::start_with(Transport::Stdio, opts("", &b)).await;
    let s = srv.connect(&sshd).await;
    srv.ok(
        "ssh_upload",
        json!({"session_id": s, "local_path": fb, "remote_path": remote, "overwrite": true}),
    )
    .await;
    upload_refused(&srv, &s, &fa, "cwd-a").await;
    let _ = std::fs::remove_file(&remote);
    srv.stop().await;

    // Started in / (as desktop clients do): nothing, and the error says how to allow.
    let srv = Server::start_with(Transport::Stdio, opts("", Path::new("/"))).await;
    let s = srv.connect(&sshd).await;
    let e = upload_refused(&srv, &s, &fb, "slash").await;
    assert!(e.contains("local_roots"), "{e}");
    srv.stop().await;

    // Over HTTP only the operator's roots count, whatever the start directory.
    let srv = Server::start_with(Transport::Http, opts("", &b)).await;
    let s = srv.connect(&sshd).await;
    let e = upload_refused(&srv, &s, &fb, "http").await;
    assert!(e.contains("local_roots"), "{e}");
    srv.stop().await;
}

#[tokio::test]
async fn named_hosts_secret_files_should_be_out_of_reach_inside_a_root() {
    let sshd = Sshd::start();
    let (_d, root) = dir();
    for f in ["pw", "passphrase", "sudo-pw"] {
        std::fs::write(root.join(f), format!("{f}-secret\n")).unwrap();
    }
    std::fs::write(root.join("notes"), "ordinary").unwrap();
    let config = root.join("ssh-mcp.toml");
    std::fs::write(
        &config,
        format!(
            "[hosts.web1]\naddress = \"{}\"\npassword_file = \"{r}/pw\"\n\
             passphrase_file = \"{r}/passphrase\"\nsudo_password_file = \"{r}/sudo-pw\"\n",
            sshd.address(),
            r = root.display()
        ),
    )
    .unwrap();
    let mut o = opts(&root.display().to_string(), Path::new("/"));
    o.args = vec!["--config".into(), config.display().to_string()];
    let srv = Server::start_with(Transport::Stdio, o).await;
    let s = srv.connect(&sshd).await;
    for f in ["pw", "passphrase", "sudo-pw", "ssh-mcp.toml"] {
        let local = root.join(f).display().to_string();
        let e = upload_refused(&srv, &s, &local, f).await;
        assert!(!e.contains("-secret"), "{e}");
    }
    // The same directory's other files stay usable.
    let remote = unique_remote("notes");
    srv.ok(
        "ssh_upload",
        json!({"session_id": s, "local_path": root.join("notes"), "remote_path": remote, "overwrite": true}),
    )
    .await;
    let _ = std::fs::remove_file(&remote);
    srv.stop().await;
}
