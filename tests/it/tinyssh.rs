//! tinysshd, a third SSH server implementation: minimal by design. It serves one session
//! channel per connection and ends the connection when that channel ends, sends no
//! extension info, and ignores `env` and `signal` requests it does not know.
//!
//! tinysshd is started per connection by a super-server (like inetd) with the socket as
//! its stdin and stdout; [`Tinysshd`] is that super-server, on 127.0.0.1 and a free port.

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tempfile::TempDir;

use crate::sshd::install_home_keys;

pub const TINYSSHD: &str = "/usr/sbin/tinysshd";

pub struct Tinysshd {
    pub port: u16,
    dir: TempDir,
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<Child>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Tinysshd {
    pub fn start() -> Self {
        assert!(
            Path::new(TINYSSHD).exists(),
            "tinysshd not found at {TINYSSHD}: install it with `apt-get install -y tinysshd`"
        );
        install_home_keys();
        let dir = tempfile::Builder::new()
            .prefix("ssh-mcp-tinysshd-")
            .tempdir()
            .unwrap();
        let keys = dir.path().join("keys");
        let made = Command::new("tinysshd-makekey")
            .arg(&keys)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "tinysshd-makekey failed");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::new()));
        let log = dir.path().join("log");
        let acceptor = {
            let (stop, children) = (stop.clone(), children.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let input = OwnedFd::from(conn.try_clone().unwrap());
                    let child = Command::new(TINYSSHD)
                        .arg("-v")
                        .arg(&keys)
                        .stdin(Stdio::from(input))
                        .stdout(Stdio::from(OwnedFd::from(conn)))
                        .stderr(log_file(&log))
                        .spawn()
                        .unwrap();
                    let mut all = children.lock().unwrap();
                    all.retain_mut(|c: &mut Child| c.try_wait().ok().flatten().is_none());
                    all.push(child);
                }
            })
        };
        Self {
            port,
            dir,
            stop,
            children,
            acceptor: Some(acceptor),
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything tinysshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

impl Drop for Tinysshd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for c in self.children.lock().unwrap().iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
