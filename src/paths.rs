//! Paths on the machine running the server: `$HOME` and `~` expansion.

use std::path::PathBuf;

/// `$HOME`, the way OpenSSH finds it for path expansion.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~` or `~/` to `$HOME`.
pub fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix('~'), home_dir()) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_tilde_should_only_touch_a_leading_home_reference() {
        let home = home_dir().unwrap();
        assert_eq!(expand_tilde("~/.ssh/id"), home.join(".ssh/id"));
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("/abs/~/x"), PathBuf::from("/abs/~/x"));
        assert_eq!(expand_tilde("~other/x"), PathBuf::from("~other/x"));
    }
}
