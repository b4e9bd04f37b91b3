//! Paths on the machine running the server: `$HOME` and `~` expansion.

use std::path::PathBuf;

/// `$HOME`, the way OpenSSH finds it for path expansion; on Windows, where `HOME` is
/// usually unset, the user profile (`USERPROFILE`), as OpenSSH for Windows does.
pub fn home_dir() -> Option<PathBuf> {
    home_from(
        std::env::var_os("HOME"),
        std::env::var_os("USERPROFILE"),
        cfg!(windows),
    )
}

/// The home directory from the platform's inputs.
fn home_from(
    home: Option<std::ffi::OsString>,
    profile: Option<std::ffi::OsString>,
    windows: bool,
) -> Option<PathBuf> {
    let set = |v: Option<std::ffi::OsString>| v.filter(|h| !h.is_empty());
    set(home)
        .or_else(|| if windows { set(profile) } else { None })
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
    fn home_should_fall_back_to_the_user_profile_on_windows_only() {
        let p = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            home_from(p("/home/a"), p("C:/Users/a"), false),
            Some("/home/a".into())
        );
        assert_eq!(
            home_from(None, p(r"C:\Users\a"), true),
            Some(r"C:\Users\a".into())
        );
        assert_eq!(
            home_from(p(""), p(r"C:\Users\a"), true),
            Some(r"C:\Users\a".into())
        );
        assert_eq!(home_from(None, p(r"C:\Users\a"), false), None);
    }

    #[test]
    fn expand_tilde_should_only_touch_a_leading_home_reference() {
        let home = home_dir().unwrap();
        assert_eq!(expand_tilde("~/.ssh/id"), home.join(".ssh/id"));
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("/abs/~/x"), PathBuf::from("/abs/~/x"));
        assert_eq!(expand_tilde("~other/x"), PathBuf::from("~other/x"));
    }
}
