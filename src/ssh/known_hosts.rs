//! Host-key verification with OpenSSH's known_hosts semantics.
//!
//! Files are parsed with `ssh-key`'s known_hosts parser; the matching is ours, following
//! OpenSSH's `match_hostname`: comma lists, `*`/`?` wildcards, `!` negation (a negated match
//! vetoes the line), hashed names (`|1|salt|hmac-sha1`), `[host]:port` for ports other
//! than 22, case-insensitive. `@revoked` lines refuse a key. `@cert-authority` lines name
//! CAs whose host certificates are accepted for the matching hosts: the certificate must be
//! signed by such a CA, be a host certificate, be valid now, and name the host among its
//! principals.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmac::{KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{Algorithm, Certificate, HashAlg, PublicKey};

use crate::error::{Error, Result};
use crate::wildcard::wildcard_match;

/// The result of looking a host's key up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A non-revoked line for this host holds exactly this key.
    Trusted,
    /// No line names this host.
    Unknown,
    /// Lines name this host, but with other keys. `recorded` is the first one's fingerprint.
    Changed {
        recorded: String,
        file: PathBuf,
        line: usize,
    },
    /// A `@revoked` line holds this key.
    Revoked { file: PathBuf, line: usize },
    /// A host certificate that no trusted CA vouches for (wrong CA, expired, not a host
    /// certificate, or not naming this host).
    BadCertificate,
}

/// One parsed line: the file, its 1-based line number, the entry.
type Line = (PathBuf, usize, Entry);

/// A set of known_hosts files. New hosts are recorded in the first one. The files are read
/// once, on first use; make a new value to see later changes (one is made per connection).
#[derive(Debug, Clone)]
pub struct KnownHosts {
    files: Vec<PathBuf>,
    parsed: OnceLock<Vec<Line>>,
}

impl KnownHosts {
    /// Uses these files, in order.
    pub fn new(files: Vec<PathBuf>) -> Self {
        Self {
            files,
            parsed: OnceLock::new(),
        }
    }

    /// The files, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Looks up `key` for `name` (as made by [`crate::ssh::Address::known_hosts_name`]).
    pub fn check(&self, name: &str, key: &PublicKey) -> Result<Verdict> {
        let mut changed = None;
        let mut trusted = false;
        for (file, line, entry) in self.entries()? {
            if !host_matches(entry.host_patterns(), name) {
                continue;
            }
            let same = entry.public_key().key_data() == key.key_data();
            match entry.marker() {
                Some(Marker::Revoked) if same => {
                    return Ok(Verdict::Revoked {
                        file: file.clone(),
                        line: *line,
                    });
                }
                Some(_) => continue,
                None if same => trusted = true,
                None => {
                    changed.get_or_insert(Verdict::Changed {
                        recorded: fingerprint(entry.public_key()),
                        file: file.clone(),
                        line: *line,
                    });
                }
            }
        }
        Ok(match (trusted, changed) {
            (true, _) => Verdict::Trusted,
            (false, Some(c)) => c,
            (false, None) => Verdict::Unknown,
        })
    }

    /// Checks a host certificate presented for `name` (known_hosts form) by `host` (the
    /// plain name or address the principals must contain).
    pub fn check_certificate(&self, name: &str, host: &str, cert: &Certificate) -> Result<Verdict> {
        let entries = self.entries()?;
        for (file, line, entry) in entries {
            let revoked = matches!(entry.marker(), Some(Marker::Revoked))
                && (entry.public_key().key_data() == cert.signature_key()
                    || entry.public_key().key_data() == cert.public_key());
            if revoked && host_matches(entry.host_patterns(), name) {
                return Ok(Verdict::Revoked {
                    file: file.clone(),
                    line: *line,
                });
            }
        }
        let cas: Vec<&Entry> = entries
            .iter()
            .map(|(_, _, e)| e)
            .filter(|e| matches!(e.marker(), Some(Marker::CertAuthority)))
            .filter(|e| host_matches(e.host_patterns(), name))
            .collect();
        if cas.is_empty() {
            return Ok(Verdict::Unknown);
        }
        let fingerprints: Vec<_> = cas
            .iter()
            .map(|e| e.public_key().fingerprint(HashAlg::Sha256))
            .collect();
        let valid = cert.validate(fingerprints.iter()).is_ok()
            && cert.cert_type() == CertType::Host
            && cert
                .valid_principals()
                .iter()
                .any(|p| p.eq_ignore_ascii_case(host));
        Ok(if valid {
            Verdict::Trusted
        } else {
            Verdict::BadCertificate
        })
    }

    /// Whether a `@cert-authority` line covers `name`: then host certificates are asked for.
    pub fn has_authority_for(&self, name: &str) -> bool {
        self.entries().unwrap_or_default().iter().any(|(_, _, e)| {
            matches!(e.marker(), Some(Marker::CertAuthority))
                && host_matches(e.host_patterns(), name)
        })
    }

    /// Key algorithms recorded for `name`, so that they can be preferred in key exchange.
    pub fn algorithms_for(&self, name: &str) -> Vec<Algorithm> {
        let mut algs = Vec::new();
        for (_, _, entry) in self.entries().unwrap_or_default() {
            if entry.marker().is_none() && host_matches(entry.host_patterns(), name) {
                let a = entry.public_key().algorithm();
                if !algs.contains(&a) {
                    algs.push(a);
                }
            }
        }
        algs
    }

    /// Records `key` for `name` at the end of the first file, creating it (and its
    /// directory, mode 0700) if needed.
    pub fn learn(&self, name: &str, key: &PublicKey) -> Result<()> {
        let Some(path) = self.files.first() else {
            return Ok(());
        };
        let fail = |source| Error::KnownHostsFile {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(fail)?;
        }
        let key_text = key.to_openssh().map_err(|e| fail(io::Error::other(e)))?;
        let key_text = key_text.split(' ').take(2).collect::<Vec<_>>().join(" ");
        let needs_newline = fs::read(path)
            .map(|b| b.last().is_some_and(|&c| c != b'\n'))
            .unwrap_or(false);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(fail)?;
        let nl = if needs_newline { "\n" } else { "" };
        f.write_all(format!("{nl}{name} {key_text}\n").as_bytes())
            .map_err(fail)
    }

    /// Every parseable entry of every file, with its 1-based line number. Missing files
    /// are empty; lines that do not parse (unsupported key types) are skipped as OpenSSH
    /// does.
    fn entries(&self) -> Result<&[Line]> {
        if let Some(parsed) = self.parsed.get() {
            return Ok(parsed);
        }
        let loaded = self.read_files()?;
        Ok(self.parsed.get_or_init(|| loaded))
    }

    fn read_files(&self) -> Result<Vec<Line>> {
        let mut out = Vec::new();
        for path in &self.files {
            let text = match fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::KnownHostsFile {
                        path: path.clone(),
                        source,
                    });
                }
            };
            for (i, raw) in text.lines().enumerate() {
                let line = raw.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                // ssh-key splits fields on single spaces; OpenSSH allows any whitespace.
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                if let Ok(entry) = line.parse::<Entry>() {
                    out.push((path.clone(), i + 1, entry));
                }
            }
        }
        Ok(out)
    }
}

/// `SHA256:…` fingerprint of a key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Whether a line's host field names `name`. A matching negated pattern vetoes the line.
pub fn host_matches(patterns: &HostPatterns, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    match patterns {
        HostPatterns::HashedName { salt, hash } => hmac::Hmac::<sha1::Sha1>::new_from_slice(salt)
            .map(|m| m.chain_update(name.as_bytes()).verify_slice(hash).is_ok())
            .unwrap_or(false),
        HostPatterns::Patterns(list) => {
            let mut matched = false;
            for p in list {
                let p = p.to_ascii_lowercase();
                match p.strip_prefix('!') {
                    Some(neg) if wildcard_match(neg, &name) => return false,
                    Some(_) => {}
                    None => matched |= wildcard_match(&p, &name),
                }
            }
            matched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(s: &str) -> HostPatterns {
        s.parse().unwrap()
    }

    #[test]
    fn host_matches_should_honour_lists_negation_and_case() {
        assert!(host_matches(&pats("a,B.example,c"), "b.example"));
        assert!(!host_matches(
            &pats("*.example,!bad.example"),
            "bad.example"
        ));
        assert!(host_matches(
            &pats("*.example,!bad.example"),
            "good.example"
        ));
        assert!(!host_matches(&pats("!bad.example"), "other"));
        assert!(host_matches(&pats("[127.0.0.1]:2222"), "[127.0.0.1]:2222"));
        assert!(!host_matches(&pats("127.0.0.1"), "[127.0.0.1]:2222"));
    }

    #[test]
    fn host_matches_should_verify_hashed_names() {
        // Produced by `ssh-keygen -H` for "[127.0.0.1]:2222".
        let salt = [7u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash: [u8; 20] = mac.finalize().into_bytes().into();
        let p = HostPatterns::HashedName {
            salt: salt.to_vec(),
            hash,
        };
        assert!(host_matches(&p, "[127.0.0.1]:2222"));
        assert!(!host_matches(&p, "[127.0.0.1]:2223"));
    }
}
