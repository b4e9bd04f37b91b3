//! Where `local_path` arguments may point: the confinement of the file tools on the machine
//! running this server.
//!
//! A path is allowed only inside one of the allowed roots, and never inside `/proc`, `/sys`,
//! `/dev`, `~/.ssh` or at one of the server's own secret and trust files (config, token,
//! key, password and known_hosts files, the audit log), whatever the roots. Symlinks and
//! `..` are resolved before the check, and the check is made again on the file actually
//! opened (its real path through `/proc/self/fd`, and its device and inode against the
//! protected files), so a path swapped between the check and the open is caught.
//!
//! [`protected`] holds the places no root exposes; [`roots`] where the default roots come
//! from.

mod protected;
mod roots;

pub use protected::Protected;
pub use roots::{roots_from_uris, start_dir, usable_start_dir};

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The roots a call may use and the protected files; built per call.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// Canonical directories; empty: nothing is allowed.
    pub roots: Vec<PathBuf>,
    pub protected: Protected,
    /// Said when no root is allowed at all: how the operator can allow one.
    pub how_to_allow: &'static str,
}

impl Confinement {
    /// Refuses `real` (a resolved path) outside the roots or inside a protected place.
    fn check(&self, raw: &str, real: &Path) -> Result<()> {
        if self.roots.is_empty() {
            return Err(Error::Policy(format!(
                "local_path {raw:?}: this server may not read or write local files. {}",
                self.how_to_allow
            )));
        }
        if self.protected.covers(real) {
            return Err(Error::Policy(format!(
                "local_path {raw:?} is a system or credential path this server never reads or writes"
            )));
        }
        if !self.roots.iter().any(|r| real.starts_with(r)) {
            return Err(Error::Policy(format!(
                "local_path {raw:?} is outside the directories this server may read or write: {}",
                self.list()
            )));
        }
        Ok(())
    }

    fn list(&self) -> String {
        let names: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        names.join(", ")
    }

    /// Opens an existing regular file for reading, inside the roots.
    pub fn open_read(&self, raw: &str) -> Result<(File, PathBuf)> {
        let path = absolute(raw)?;
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) => {
                // Say only what a path inside the roots would say.
                self.check(raw, &normalize(&path))?;
                return Err(Error::io(format!("local_path {raw:?}"), e));
            }
        };
        self.check(raw, &real)?;
        let file = open_nonblocking(&real, false)
            .map_err(|e| Error::io(format!("opening local_path {raw:?}"), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("local_path {raw:?}"), e))?;
        if meta.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} is a directory; give a file path"
            )));
        }
        // A device such as /dev/zero never ends; a FIFO blocks.
        if !meta.is_file() {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} is not a regular file (a device, FIFO or socket); give a file path"
            )));
        }
        self.verify_opened(raw, &file, &real, &meta)?;
        Ok((file, real))
    }

    /// Checks a path to write: its directory must exist inside the roots. Returns the path
    /// with its directory resolved.
    pub fn check_write(&self, raw: &str) -> Result<PathBuf> {
        let path = absolute(raw)?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} must name a file"
            )));
        };
        let dir = match parent.canonicalize() {
            Ok(d) => d,
            Err(e) => {
                self.check(raw, &normalize(&path))?;
                return Err(Error::io(format!("the directory of local_path {raw:?}"), e));
            }
        };
        let real = dir.join(name);
        self.check(raw, &real)?;
        // An existing file under another spelling of its name (case, or a Windows short
        // name) is checked as the name it really has.
        if let Ok(existing) = real.canonicalize() {
            self.check(raw, &existing)?;
        }
        if let Ok(m) = std::fs::symlink_metadata(&real)
            && m.is_dir()
        {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} is a directory; give a file path"
            )));
        }
        Ok(real)
    }

    /// Checks again, right before a file is renamed into place at `path` (from
    /// [`Self::check_write`]), that `path` is still allowed and is not a protected file.
    pub fn recheck_write(&self, raw: &str, path: &Path) -> Result<()> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} must name a file"
            )));
        };
        let dir = parent
            .canonicalize()
            .map_err(|e| Error::io(format!("the directory of local_path {raw:?}"), e))?;
        self.check(raw, &dir.join(name))?;
        if let Ok(existing) = path.canonicalize() {
            self.check(raw, &existing)?;
        }
        match std::fs::metadata(path) {
            Ok(m) if self.protected.is_protected_file(&m) => Err(Error::Policy(format!(
                "local_path {raw:?} is a system or credential path this server never reads or writes"
            ))),
            _ => Ok(()),
        }
    }

    /// Creates a new file at `path` (which must not exist; links are not followed) and
    /// verifies that what was created lies inside the roots.
    pub fn create_new(&self, raw: &str, path: &Path) -> Result<File> {
        let file = open_nonblocking(path, true)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("local_path {raw:?}"), e))?;
        if let Err(e) = self.verify_opened(raw, &file, path, &meta) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(file)
    }

    /// The check made again on an open file: its real path, and its identity against the
    /// protected files.
    fn verify_opened(
        &self,
        raw: &str,
        file: &File,
        expected: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<()> {
        if self.protected.is_protected_file(meta) {
            return Err(Error::Policy(format!(
                "local_path {raw:?} is a system or credential path this server never reads or writes"
            )));
        }
        // Without file identities (Windows), the name the file really has.
        #[cfg(not(unix))]
        if let Ok(real) = expected.canonicalize() {
            self.check(raw, &real)?;
        }
        match opened_path(file) {
            Some(real) => self.check(raw, &real),
            // Without /proc: the file opened must be the file checked.
            None => match std::fs::metadata(expected) {
                Ok(m) if same_file(&m, meta) => Ok(()),
                _ => Err(Error::Policy(format!(
                    "local_path {raw:?} changed while it was being opened"
                ))),
            },
        }
    }
}

/// An absolute path from a `local_path` argument. On Windows only a drive path: a UNC or
/// device path (`\\host\share`, `\\.\pipe\x`) would reach the network or a device
/// before any check, the first with the user's credentials.
fn absolute(raw: &str) -> Result<PathBuf> {
    let path = PathBuf::from(raw.trim());
    if !path.is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "local_path {raw:?} must be an absolute path on the machine running this server"
        )));
    }
    #[cfg(windows)]
    {
        use std::path::{Component, Prefix};
        let drive = matches!(
            path.components().next(),
            Some(Component::Prefix(p)) if matches!(p.kind(), Prefix::Disk(_) | Prefix::VerbatimDisk(_))
        );
        if !drive {
            return Err(Error::InvalidArgument(format!(
                "local_path {raw:?} must be a path on a drive of this machine, such as C:\\dir\\file"
            )));
        }
    }
    Ok(path)
}

/// `path` with `.` and `..` taken out lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Opens without blocking on a FIFO and, when creating, without following a link or
/// replacing anything.
pub(crate) fn open_nonblocking(path: &Path, create: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if create {
        o.write(true).create_new(true);
    } else {
        o.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        if create {
            o.mode(0o600);
        }
    }
    o.open(path)
}

/// The real path of an open file, where the system tells (Linux: `/proc/self/fd`).
fn opened_path(file: &File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Whether two paths name the same file (device and inode on Unix), links and hard links
/// included.
pub fn same_file_at(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        matches!((std::fs::metadata(a), std::fs::metadata(b)), (Ok(a), Ok(b)) if same_file(&a, &b))
    }
    #[cfg(not(unix))]
    {
        matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows: a protected file written to under another case of its name, and paths that
    /// would reach the network, are refused.
    #[cfg(windows)]
    #[test]
    fn windows_spellings_should_not_reach_protected_files_or_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let secret = root.join("ssh-mcp.toml");
        std::fs::write(&secret, "x").unwrap();
        let c = Confinement {
            roots: vec![root.clone()],
            protected: Protected::new(None, [secret.clone()]),
            how_to_allow: "",
        };
        let upper = root.join("SSH-MCP.TOML").display().to_string();
        assert!(c.check_write(&upper).is_err(), "{upper}");
        assert!(c.open_read(&upper).is_err(), "{upper}");
        assert!(
            c.check_write(&root.join("other").display().to_string())
                .is_ok()
        );
        for unc in [
            r"\\attacker.example\share\x",
            r"\\.\pipe\x",
            r"\\?\UNC\h\s\x",
        ] {
            let e = c.check_write(unc).unwrap_err().to_string();
            assert!(e.contains("drive"), "{unc}: {e}");
        }
    }

    #[test]
    fn confinement_should_refuse_escapes_and_protected_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let secret = root.join("token");
        std::fs::write(&secret, "t").unwrap();
        std::fs::write(root.join("ok"), "data").unwrap();
        let protected = Protected::new(None, [secret.clone()]);
        let roots = vec![root.clone()];
        let c = Confinement {
            roots,
            protected: protected.clone(),
            how_to_allow: "",
        };
        let ok = root.join("ok").display().to_string();
        assert!(c.open_read(&ok).is_ok());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", root.join("link")).unwrap();
            std::fs::hard_link(&secret, root.join("hard")).unwrap();
        }
        for bad in [
            "/etc/hostname".to_string(),
            "/proc/self/environ".to_string(),
            format!("{}/../../etc/hostname", root.display()),
            root.join("link").display().to_string(),
            root.join("hard").display().to_string(),
            secret.display().to_string(),
            "relative/path".to_string(),
        ] {
            assert!(c.open_read(&bad).is_err(), "{bad} should be refused");
        }
        assert!(
            c.check_write(&root.join("new").display().to_string())
                .is_ok()
        );
        assert!(c.check_write("/etc/new").is_err());
        assert!(c.check_write(&secret.display().to_string()).is_err());
        let none = Confinement {
            roots: Vec::new(),
            protected,
            how_to_allow: "set [files] local_roots",
        };
        let e = none.open_read(&ok).unwrap_err().to_string();
        assert!(e.contains("local_roots"), "{e}");
    }
}
