//! The places no `local_path` may reach, whatever the roots: `/proc`, `/sys`, `/dev`,
//! `~/.ssh` and the server's own secret and trust files, each under every name it has.

use std::path::{Path, PathBuf};

/// Directories no root may expose.
const SYSTEM_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// The server's own files and directories that no `local_path` may reach.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// Directories (canonical where they exist): `/proc`, `/sys`, `/dev`, `~/.ssh`.
    dirs: Vec<PathBuf>,
    /// Files (canonical where they exist): config, token, key, password, known_hosts and
    /// audit files.
    files: Vec<PathBuf>,
}

impl Protected {
    /// The system directories, `~/.ssh` (from `home`) and `files`.
    pub fn new(home: Option<&Path>, files: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut dirs: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
        if let Some(h) = home {
            dirs.push(h.join(".ssh"));
        }
        let dirs = dirs.into_iter().flat_map(with_canonical).collect();
        let files = files.into_iter().flat_map(with_canonical).collect();
        Self { dirs, files }
    }

    /// Adds a file (the token file, say).
    pub fn add_file(&mut self, file: PathBuf) {
        self.files.extend(with_canonical(file));
    }

    /// Whether `real` (a resolved path) is protected. On Windows, names differ only in case
    /// name the same file, so they are compared folded.
    pub(super) fn covers(&self, real: &Path) -> bool {
        let windows = cfg!(windows);
        let real = fold_case(real, windows);
        self.dirs
            .iter()
            .any(|d| real.starts_with(fold_case(d, windows)))
            || self.files.iter().any(|f| real == fold_case(f, windows))
    }

    /// Whether the opened file is one of the protected files under another name (a hard
    /// link).
    #[cfg(unix)]
    pub(super) fn is_protected_file(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.files.iter().any(|f| {
            std::fs::metadata(f).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        })
    }

    #[cfg(not(unix))]
    pub(super) fn is_protected_file(&self, _meta: &std::fs::Metadata) -> bool {
        false
    }
}

/// `path` as a case-insensitive file system compares it: lower-cased on Windows.
fn fold_case(path: &Path, windows: bool) -> PathBuf {
    if windows {
        PathBuf::from(path.to_string_lossy().to_lowercase())
    } else {
        path.to_path_buf()
    }
}

/// A path made absolute (against the directory the server runs in) and, as resolved:
/// both are protected. A file that does not exist yet is resolved through its directory,
/// so that it is recognised once the server creates it.
fn with_canonical(p: PathBuf) -> Vec<PathBuf> {
    let abs = if p.is_absolute() {
        p
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(p),
            Err(_) => p,
        }
    };
    let resolved = abs.canonicalize().ok().or_else(|| {
        let dir = abs.parent()?.canonicalize().ok()?;
        Some(dir.join(abs.file_name()?))
    });
    match resolved {
        Some(c) if c != abs => vec![abs, c],
        _ => vec![abs],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_should_fold_case_on_windows_only() {
        let p = Path::new(r"C:\Proj\SSH-MCP.TOML");
        assert_eq!(fold_case(p, true), PathBuf::from(r"c:\proj\ssh-mcp.toml"));
        assert_eq!(fold_case(p, false), p.to_path_buf());
    }
}
