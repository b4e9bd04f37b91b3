//! ProFTPD's mod_sftp, an SFTP-only server that hashes files itself (the `check-file`
//! extension): transfers are verified without a command channel.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::Server;
use crate::sshd::{self, free_port, run, wait_ready};

pub const PROFTPD: &str = "/usr/sbin/proftpd";

/// ProFTPD serving SFTP only, on 127.0.0.1 with a free port, for the test user's key.
struct ProFtpd {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl ProFtpd {
    /// Starts it, or says why it cannot (`None`, after printing `SKIPPED`; a failure under
    /// `CI`).
    fn start() -> Option<Self> {
        let module = Path::new("/usr/lib/proftpd/mod_sftp.so");
        if !Path::new(PROFTPD).exists() || !module.exists() {
            let why = "ProFTPD with mod_sftp is not installed \
                       (apt-get install proftpd-core proftpd-mod-crypto)";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let user = sshd::user();
        let dir = tempfile::Builder::new()
            .prefix("ssh-mcp-proftpd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f"])
            .arg(d.join("host_key")));
        // mod_sftp reads authorized keys in the RFC 4716 format.
        let keys = Command::new("ssh-keygen")
            .arg("-e")
            .arg("-f")
            .arg(user.key.with_extension("pub"))
            .output()
            .unwrap();
        assert!(keys.status.success());
        fs::write(d.join("authorized_keys"), keys.stdout).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let conf = d.join("proftpd.conf");
            fs::write(&conf, config(d, port)).unwrap();
            let mut child = Command::new(PROFTPD)
                .args(["-n", "-q", "-c"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(d.join("log")).unwrap())
                .spawn()
                .unwrap();
            if wait_ready(&mut child, port, Duration::from_secs(10)) {
                return Some(ProFtpd { port, dir, child });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "proftpd did not start: {}",
            fs::read_to_string(d.join("log")).unwrap_or_default()
        );
    }

    /// Everything it logged so far.
    fn log(&self) -> String {
        let d = self.dir.path();
        fs::read_to_string(d.join("log")).unwrap_or_default()
            + &fs::read_to_string(d.join("sftp.log")).unwrap_or_default()
    }
}

fn config(d: &Path, port: u16) -> String {
    let d = d.display();
    format!(
        "ServerType standalone\n\
         DefaultServer off\n\
         Port 0\n\
         User root\n\
         Group root\n\
         PidFile {d}/pid\n\
         ScoreboardFile {d}/scoreboard\n\
         DelayTable none\n\
         WtmpLog off\n\
         UseIPv6 off\n\
         SocketBindTight on\n\
         DefaultAddress 127.0.0.1\n\
         LoadModule mod_sftp.c\n\
         <VirtualHost 127.0.0.1>\n\
           Port {port}\n\
           AllowOverwrite on\n\
           RequireValidShell off\n\
           SFTPEngine on\n\
           SFTPLog {d}/sftp.log\n\
           SFTPHostKey {d}/host_key\n\
           SFTPAuthMethods publickey\n\
           SFTPAuthorizedUserKeys file:{d}/authorized_keys\n\
         </VirtualHost>\n"
    )
}

impl Drop for ProFtpd {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn an_sftp_only_server_with_check_file_should_verify_transfers() {
    let Some(server) = ProFtpd::start() else {
        return;
    };
    let srv = Server::stdio().await;
    let s = srv
        .connect_address(&format!("127.0.0.1:{}", server.port))
        .await;
    let remote = format!("/tmp/ssh-mcp-check-file-{}", std::process::id());
    let content = "hashed by the server itself\n".repeat(1000);
    let want = ssh_mcp::hex::encode(&Sha256::digest(content.as_bytes()));

    let v = srv
        .ok(
            "ssh_upload",
            json!({"session_id": s, "remote_path": remote, "content": content, "overwrite": true}),
        )
        .await;
    assert_eq!(fs::read_to_string(&remote).unwrap(), content);
    assert_eq!(v["verified"], true, "{v}\n{}", server.log());
    assert_eq!(v["remote_sha256"], want, "{v}");
    let v = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote}),
        )
        .await;
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["remote_sha256"], want, "{v}");

    // The server hashes the file as it is: changed behind our back, the hash says so.
    fs::write(&remote, "changed").unwrap();
    let v = srv
        .ok(
            "ssh_download",
            json!({"session_id": s, "remote_path": remote, "max_bytes": 1}),
        )
        .await;
    assert!(v["verified"].is_null(), "{v}");
    // No command ran: mod_sftp has no command channel, and the hash came over SFTP.
    let e = srv
        .err(
            "ssh_execute",
            json!({"session_id": s, "command": "sha256sum /etc/hostname"}),
        )
        .await;
    assert!(e.contains("refused to run the command"), "{e}");
    let _ = fs::remove_file(&remote);
    srv.stop().await;
}
