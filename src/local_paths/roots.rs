//! Where the default roots of the file tools come from: the directory the server was started
//! in, and the `file://` roots a client declares.

use std::path::{Path, PathBuf};

/// The directory this process was started in, when it may serve as the default root.
pub fn start_dir() -> Option<PathBuf> {
    let dir = std::env::current_dir().ok()?.canonicalize().ok()?;
    let home = crate::paths::home_dir().and_then(|h| h.canonicalize().ok());
    usable_start_dir(&dir, home.as_deref()).then_some(dir)
}

/// Whether `dir` may serve as the default root (the directory the server was started in):
/// not `/`, not a home directory or a directory holding homes.
pub fn usable_start_dir(dir: &Path, home: Option<&Path>) -> bool {
    let homes = [Path::new("/home"), Path::new("/Users"), Path::new("/root")];
    if dir.parent().is_none() || homes.contains(&dir) {
        return false;
    }
    if dir.parent().is_some_and(|p| homes.contains(&p)) {
        return false;
    }
    !home.is_some_and(|h| h.starts_with(dir))
}

/// The roots a client declared (`file://` URIs only), resolved; others are skipped.
pub fn roots_from_uris<'a>(uris: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    uris.into_iter()
        .filter_map(|u| uri_path(u, cfg!(windows)))
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .filter_map(|p| p.canonicalize().ok())
        .filter(|p| p.is_dir())
        .collect()
}

/// The local path a `file://` URI names, as the platform writes it: on Windows,
/// `file:///C:/Users/a` is `C:/Users/a`.
fn uri_path(uri: &str, windows: bool) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let path = percent_decode(rest.strip_prefix("localhost").unwrap_or(rest))?;
    if windows {
        let b = path.as_bytes();
        if let [b'/', drive, b':', ..] = b
            && drive.is_ascii_alphabetic()
        {
            return Some(path[1..].to_string());
        }
    }
    Some(path)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a NUL.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_dirs_should_exclude_root_and_homes() {
        let home = Path::new("/home/ann");
        assert!(!usable_start_dir(Path::new("/"), Some(home)));
        assert!(!usable_start_dir(Path::new("/home"), Some(home)));
        assert!(!usable_start_dir(Path::new("/home/ann"), Some(home)));
        assert!(!usable_start_dir(Path::new("/home/bob"), Some(home)));
        assert!(!usable_start_dir(Path::new("/root"), None));
        assert!(usable_start_dir(Path::new("/home/ann/project"), Some(home)));
        assert!(usable_start_dir(Path::new("/srv/data"), Some(home)));
    }

    #[test]
    fn client_roots_should_be_file_uris_of_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        // As a client writes it: `file:///C:/Users/...` on Windows.
        let path = real.to_string_lossy().replace('\\', "/");
        let path = path.trim_start_matches("//?/");
        let slash = if path.starts_with('/') { "" } else { "/" };
        let uri = format!("file://{slash}{path}");
        let spaced = format!("{uri}/a%20b");
        std::fs::create_dir(real.join("a b")).unwrap();
        let roots = roots_from_uris([
            uri.as_str(),
            "https://example.com/x",
            "file:///no/such/dir",
            spaced.as_str(),
            "file:///tmp/%00",
        ]);
        assert_eq!(roots, vec![real.clone(), real.join("a b")]);
    }

    #[test]
    fn a_file_uri_should_name_a_windows_drive_path_on_windows_only() {
        assert_eq!(
            uri_path("file:///C:/Users/a%20b", true).as_deref(),
            Some("C:/Users/a b")
        );
        assert_eq!(
            uri_path("file:///C:/Users/a", false).as_deref(),
            Some("/C:/Users/a")
        );
        assert_eq!(uri_path("file:///home/a", true).as_deref(), Some("/home/a"));
        assert_eq!(uri_path("https://x/C:/a", true), None);
    }
}
