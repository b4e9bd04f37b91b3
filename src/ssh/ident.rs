//! The server's identification line (`SSH-2.0-dropbear_2022.83`), which russh reads but does
//! not expose, and what we must do differently for servers with known defects.

use std::sync::{Arc, OnceLock};

use crate::ssh::socket::{Observed, ReadObserver};

/// Bytes scanned for the identification line at most (RFC 4253 allows other lines first).
const SCAN_LIMIT: usize = 16 * 1024;

/// Finds the first line starting with `SSH-` among the bytes a stream reads.
#[derive(Debug)]
pub struct IdentScanner {
    pending: Vec<u8>,
    scanned: usize,
    done: bool,
    ident: Arc<OnceLock<String>>,
}

/// Wraps `inner`; the identification line shows up in the returned cell once read.
pub fn tap<S>(inner: S) -> (Observed<S, IdentScanner>, Arc<OnceLock<String>>) {
    let ident = Arc::new(OnceLock::new());
    let scanner = IdentScanner {
        pending: Vec::new(),
        scanned: 0,
        done: false,
        ident: ident.clone(),
    };
    (Observed::new(inner, scanner), ident)
}

impl<S> ReadObserver<S> for IdentScanner {
    fn observe(&mut self, _: &S, data: &[u8]) {
        if self.done {
            return;
        }
        self.scanned += data.len();
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&self.pending[..end]);
            if line.starts_with("SSH-") {
                let _ = self.ident.set(line.trim_end_matches('\r').to_string());
                self.done = true;
                break;
            }
            self.pending.drain(..=end);
        }
        if self.done || self.scanned > SCAN_LIMIT {
            self.done = true;
            self.pending = Vec::new();
        }
    }
}

/// Whether this server refuses the signals that stop a command (RFC 4254 `signal`), so
/// that commands must be marked to be found and stopped another way.
///
/// OpenSSH refuses them in sessions of `root` ("session signalling requires privilege
/// separation": a root session has no unprivileged child to send them from). The marker
/// is set with `export`, which a POSIX shell understands; FreeBSD's root shell may be csh,
/// and FreeBSD has no /proc to find the marker in, so it is left out.
pub fn refuses_signals(ident: &str, user: &str) -> bool {
    user == "root" && ident.contains("OpenSSH") && !ident.contains("FreeBSD")
}

/// Whether commands on one connection to this server must run one at a time.
///
/// Dropbear 2022.82 to 2024.85 may close a new session channel before its `exec` request
/// arrives when another child process exits at that moment, and then fails an assertion
/// (`!channel->sent_close`) that ends the whole connection (Dropbear issues 173 and 321,
/// fixed in 2024.86). With one command at a time no other child can exit in that window.
pub fn serializes_commands(ident: &str) -> bool {
    let Some(version) = ident
        .split_once('-')
        .and_then(|(_, rest)| rest.split_once('-'))
        .and_then(|(_, software)| software.strip_prefix("dropbear_"))
    else {
        return false;
    };
    let number = version
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    let Some((year, release)) = number.split_once('.') else {
        return false;
    };
    match (year.parse::<u32>(), release.parse::<u32>()) {
        (Ok(y), Ok(r)) => (2022, 82) <= (y, r) && (y, r) <= (2024, 85),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_identification_line_is_found_after_other_lines() {
        let data = b"hello there\r\nSSH-2.0-dropbear_2022.83\r\n\x00\x00\x01binary".to_vec();
        let (mut tap, ident) = tap(std::io::Cursor::new(data.clone()));
        let mut back = Vec::new();
        let mut small = [0u8; 5];
        loop {
            let n = tap.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&small[..n]);
        }
        assert_eq!(back, data);
        assert_eq!(
            ident.get().map(String::as_str),
            Some("SSH-2.0-dropbear_2022.83")
        );
    }

    #[test]
    fn root_sessions_of_openssh_should_be_marked() {
        let debian = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";
        assert!(refuses_signals(debian, "root"));
        assert!(!refuses_signals(debian, "alice"));
        assert!(!refuses_signals(
            "SSH-2.0-OpenSSH_9.7 FreeBSD-20240318",
            "root"
        ));
        assert!(!refuses_signals("SSH-2.0-dropbear_2022.83", "root"));
    }

    #[test]
    fn affected_dropbear_versions_serialize() {
        assert!(serializes_commands("SSH-2.0-dropbear_2022.83"));
        assert!(serializes_commands("SSH-2.0-dropbear_2024.85"));
        assert!(serializes_commands("SSH-2.0-dropbear_2022.82 extra"));
        assert!(!serializes_commands("SSH-2.0-dropbear_2024.86"));
        assert!(!serializes_commands("SSH-2.0-dropbear_2020.81"));
        assert!(!serializes_commands(
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
        ));
        assert!(!serializes_commands("SSH-2.0-dropbear"));
    }
}
