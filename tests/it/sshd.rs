//! A real OpenSSH `sshd` per test: 127.0.0.1, a free port, a temp dir, generated keys.
//!
//! The test user, its password and its keys are made once per test process ([`user`]);
//! each [`Sshd`] has its own host key, config and log, and is killed on drop (its log is
//! printed when the test failed).

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const SSHD: &str = "/usr/sbin/sshd";
pub const USER: &str = "sshmcp-test";
pub const PASSWORD: &str = "Pw-0f-the-test-user-7c1e";
pub const PASSPHRASE: &str = "passphrase-of-the-encrypted-key";

/// The test user and its credentials, shared by every sshd of this process.
pub struct TestUser {
    /// World-readable dir holding `authorized_keys` and the keys (private keys 0600).
    pub dir: PathBuf,
    /// Plain ed25519 key.
    pub key: PathBuf,
    /// ed25519 key encrypted with [`PASSPHRASE`].
    pub encrypted_key: PathBuf,
    /// RSA key, authorized too (for the agent test).
    pub rsa_key: PathBuf,
    /// A key that is not authorized anywhere.
    pub stranger_key: PathBuf,
}

/// Creates (once) the system user with a password, and its keys.
pub fn user() -> &'static TestUser {
    static USER_ONCE: OnceLock<TestUser> = OnceLock::new();
    USER_ONCE.get_or_init(|| {
        assert!(
            Path::new(SSHD).exists(),
            "OpenSSH server not found at {SSHD}: install it with `apt-get install -y openssh-server openssh-client` (the test suite needs a real sshd)"
        );
        assert!(
            is_root(),
            "the sshd tests create a system user and run sshd with password authentication: run them as root (CI does)"
        );
        if !Command::new("id").arg(USER).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success() {
            run(Command::new("useradd").args(["-m", "-s", "/bin/bash", USER]));
        }
        let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        chpasswd
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
            .unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
        fs::create_dir_all("/run/sshd").unwrap();

        // A static is never dropped, so each test process leaves its dir behind: remove
        // those of processes that are gone.
        let tmp = std::env::temp_dir();
        for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("ssh-mcp-user-").and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        let dir = tmp.join(format!("ssh-mcp-user-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let key = keygen(&dir, "id_ed25519", "ed25519", "");
        let encrypted_key = keygen(&dir, "id_encrypted", "ed25519", PASSPHRASE);
        let rsa_key = keygen(&dir, "id_rsa", "rsa", "");
        let stranger_key = keygen(&dir, "id_stranger", "ed25519", "");
        let mut auth = String::new();
        for k in [&key, &encrypted_key, &rsa_key] {
            auth += &fs::read_to_string(k.with_extension("pub")).unwrap();
        }
        let ak = dir.join("authorized_keys");
        fs::write(&ak, auth).unwrap();
        fs::set_permissions(&ak, fs::Permissions::from_mode(0o644)).unwrap();
        TestUser { dir, key, encrypted_key, rsa_key, stranger_key }
    })
}

/// A system user whose login shell is `shell`, made once per name: `sshmcp-<shell name>`
/// (e.g. `sshmcp-fish`). It authenticates with the keys of [`user`], since every sshd of
/// this suite reads one `AuthorizedKeysFile`; an sshd must list it in `AllowUsers`. `None`
/// when the shell is not installed.
pub fn user_with_shell(shell: &str) -> Option<String> {
    static MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if !Path::new(shell).exists() {
        return None;
    }
    user();
    let name = format!("sshmcp-{}", Path::new(shell).file_name()?.to_str()?);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if made.contains(&name) {
        return Some(name);
    }
    let exists = |name: &str| {
        Command::new("id")
            .arg(name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    // Other test processes may edit /etc/passwd at the same moment (which fails on its lock).
    for attempt in 0.. {
        let ok = exists(&name)
            || Command::new("useradd")
                .args(["-m", "-s", shell, &name])
                .status()
                .unwrap()
                .success();
        // Without PAM, sshd refuses a locked account (useradd's `!`); `*` takes no password.
        if ok
            && Command::new("usermod")
                .args(["-s", shell, "-p", "*", &name])
                .status()
                .unwrap()
                .success()
        {
            break;
        }
        assert!(
            attempt < 50,
            "could not create the user {name} with login shell {shell}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    made.push(name.clone());
    Some(name)
}

/// An sshd-compatible second implementation: Dropbear, on 127.0.0.1 with a free port.
/// Dropbear reads `~/.ssh/authorized_keys` of the user, which [`Dropbear::start`] writes.
pub struct Dropbear {
    pub port: u16,
    _dir: TempDir,
    child: Child,
}

pub const DROPBEAR: &str = "/usr/sbin/dropbear";

impl Dropbear {
    pub fn start() -> Self {
        assert!(
            Path::new(DROPBEAR).exists(),
            "Dropbear not found at {DROPBEAR}: install it with `apt-get install -y dropbear-bin`"
        );
        install_home_keys();
        let dir = tempfile::Builder::new()
            .prefix("ssh-mcp-dropbear-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("host_ed25519");
        run(Command::new("dropbearkey")
            .args(["-t", "ed25519", "-f"])
            .arg(&key)
            .stdout(Stdio::null()));
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(DROPBEAR)
                .args(["-F", "-E", "-p", &format!("127.0.0.1:{port}"), "-r"])
                .arg(&key)
                .stdin(Stdio::null())
                .stderr(fs::File::create(dir.path().join("log")).unwrap())
                .spawn()
                .unwrap();
            if wait_ready(&mut child, port, Duration::from_secs(10)) {
                return Dropbear {
                    port,
                    _dir: dir,
                    child,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dropbear did not start");
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything Dropbear logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Dropbear {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the test user's `~/.ssh/authorized_keys`, which servers without an
/// `AuthorizedKeysFile` setting (Dropbear, tinysshd) read.
pub fn install_home_keys() {
    let home = PathBuf::from(format!("/home/{USER}/.ssh"));
    fs::create_dir_all(&home).unwrap();
    let ak = home.join("authorized_keys");
    fs::copy(user().dir.join("authorized_keys"), &ak).unwrap();
    run(Command::new("chown")
        .args(["-R", &format!("{USER}:{USER}")])
        .arg(&home));
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&ak, fs::Permissions::from_mode(0o600)).unwrap();
}

/// Generates a key pair `dir/name` (+ `.pub`); returns the private key path.
pub fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    run(&mut cmd);
    // `.pub` is derived from the private key path by ssh-keygen.
    fs::rename(
        format!("{}.pub", path.display()),
        path.with_extension("pub"),
    )
    .ok();
    path
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// The options of an sshd to start.
#[derive(Default)]
pub struct SshdBuilder {
    /// Extra `sshd_config` lines.
    lines: Vec<String>,
    /// A port to reuse (host-key change tests); default: a free one.
    port: Option<u16>,
}

impl SshdBuilder {
    /// Adds an `sshd_config` line; it wins over the suite's defaults.
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Listens on `port` instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn start(self) -> Sshd {
        Sshd::start_with(&self.lines.join("\n"), self.port)
    }
}

/// One running sshd.
pub struct Sshd {
    pub port: u16,
    pub dir: TempDir,
    /// The host public key line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
    child: Child,
}

impl Sshd {
    /// An sshd with the default settings of this suite.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// An sshd with options of its own: `Sshd::builder().config("AllowUsers root").start()`.
    pub fn builder() -> SshdBuilder {
        SshdBuilder::default()
    }

    /// An sshd with extra `sshd_config` lines (placed first, so they win: sshd takes the first
    /// value of a keyword); `fixed_port` reuses a port (host-key change tests).
    fn start_with(extra: &str, fixed_port: Option<u16>) -> Self {
        let user = user();
        let dir = tempfile::Builder::new()
            .prefix("ssh-mcp-sshd-")
            .tempdir()
            .unwrap();
        let host_key = keygen(dir.path(), "host_ed25519", "ed25519", "");
        let host_pub = fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let host_pub = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = fixed_port.unwrap_or_else(free_port);
            let cfg = dir.path().join("sshd_config");
            let log = dir.path().join("sshd.log");
            fs::write(
                &cfg,
                format!(
                    "{extra}\nPort {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                     AuthorizedKeysFile {ak}\nUsePAM no\nStrictModes no\nPasswordAuthentication yes\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin no\n\
                     AllowTcpForwarding yes\nSubsystem sftp internal-sftp\nMaxStartups 100:30:200\n\
                     LogLevel VERBOSE\nAllowUsers {USER}\n",
                    hk = host_key.display(),
                    d = dir.path().display(),
                    ak = user.dir.join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(&cfg)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            if wait_ready(&mut child, port, Duration::from_secs(10)) {
                return Sshd {
                    port,
                    dir,
                    host_key: host_pub,
                    child,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&log).unwrap_or_default();
            if fixed_port.is_some() || !last_log.contains("already in use") {
                break;
            }
        }
        panic!("sshd did not start:\n{last_log}");
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_key)
    }

    /// The sshd log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Every process below the listener: per-connection sshd processes and user commands.
    pub fn descendants(&self) -> Vec<u32> {
        let mut parent_of = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // Field 4 (ppid) follows the parenthesised command name.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) else {
                continue;
            };
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
        let mut found = vec![self.child.id()];
        let mut i = 0;
        while i < found.len() {
            let p = found[i];
            found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        found.remove(0);
        found
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`, `KILL`) to every connection of this sshd.
    pub fn signal_connections(&self, signal: &str) {
        for pid in self.descendants() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Kills the listener and every connection, as a crash of the host would.
    pub fn kill_all(&mut self) {
        self.signal_connections("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts sshd again with the same config, port and host key.
    pub fn restart(&mut self) {
        self.kill_all();
        let cfg = self.dir.path().join("sshd_config");
        let log = self.dir.path().join("sshd.log");
        self.child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_ready(&mut self.child, self.port, Duration::from_secs(10)),
            "sshd did not restart:\n{}",
            self.log()
        );
    }
}

pub fn wait_ready(child: &mut Child, port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = [0u8; 8];
            if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Kill the per-connection children first, then the listener.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- sshd log (port {}) ----\n{}", self.port, self.log());
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `ssh-agent` holding the given keys, killed on drop.
pub struct Agent {
    pub socket: PathBuf,
    _dir: TempDir,
    child: Child,
}

impl Agent {
    pub fn start(keys: &[&Path]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for k in keys {
            run(Command::new("ssh-add")
                .env("SSH_AUTH_SOCK", &socket)
                .arg(k)
                .stderr(Stdio::null()));
        }
        Agent {
            socket,
            _dir: dir,
            child,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
